"""fabricctl controller: topology model, planners, Plan, CLI."""
