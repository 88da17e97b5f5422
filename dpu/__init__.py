"""DPU datapath model: numba packet parser, match-action pipeline, timing model."""
