"""Where the MCP tools get the fabric and the current plan: files (``--fabric``, ``--plan``), or a
running controller (``--server``) through :class:`fabric.server.client.ControllerClient`.

With a controller the current plan is its desired version (``ListPlans`` / ``GetPlan``). The API has
``--fabric`` may be left out: the controller's fabric comes from its ``GetFabric`` call; when given, it
is checked against the controller's fabric digest (``Status``): a different fabric is refused with one line.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from fabric.errors import ConfigError
from fabric.plan import Plan, short_digest
from fabric.topology import Fabric


@dataclass
class Backend:
    """The sources the server was started with (``fabricctl mcp`` options)."""

    fabric_spec: str | None = None
    plan_path: str | None = None
    server: str | None = None
    token: str | None = None
    ca_file: str | None = None
    _fabric: Fabric | None = field(default=None, repr=False)

    # ------------------------------------------------------------------ controller
    @property
    def has_server(self) -> bool:
        return self.server is not None

    def client(self, actor: str | None = None) -> Any:
        """A :class:`ControllerClient` acting for ``actor`` (recorded in the audit log after the
        token's name); one line when there is no controller."""
        if self.server is None:
            raise ConfigError("this needs a running controller: start fabricctl mcp with --server", where="--server")
        from fabric.server.client import ControllerClient

        return ControllerClient(self.server, token=self.token, ca_file=self.ca_file, actor=actor)

    # ------------------------------------------------------------------ fabric
    def fabric(self) -> Fabric:
        """The fabric (loaded once); with a controller, checked to be the controller's."""
        if self._fabric is None:
            if self.fabric_spec is None:
                if not self.server:
                    raise ConfigError("give a topology with --fabric (a file, 'example', 'zoo:<Name>')",
                                      where="--fabric")
                with self.client() as c:               # the controller's own fabric (GetFabric)
                    self._fabric = c.get_fabric()
                return self._fabric
            from fabric.io import load_fabric

            self._fabric = load_fabric(self.fabric_spec)
        if self.server is not None:
            with self.client() as c:
                theirs = c.status()["fabric_digest"]
            if theirs and theirs != self._fabric.digest():
                raise ConfigError(f"{self.fabric_spec} ({short_digest(self._fabric.digest())}) is not the controller's "
                                  f"fabric ({short_digest(theirs)})", where="--fabric")
        return self._fabric

    def fabric_source(self) -> str:
        return str(self.fabric_spec) if self.fabric_spec is not None else f"controller {self.server}"

    # ------------------------------------------------------------------ plans
    def current_plan(self) -> tuple[Plan | None, str]:
        """The current plan and where it came from (``controller version N`` or the file); None when
        there is none (no --plan file, or nothing desired on the controller yet)."""
        if self.server is not None:
            with self.client() as c:
                version = int(c.plans()["desired_version"])
                if not version:
                    return None, "controller (no plan desired yet)"
                return Plan.from_dict(c.plan(version), file=f"controller plan {version}"), f"controller version {version}"
        if self.plan_path is None:
            return None, "no --plan file"
        return Plan.load(self.plan_path), self.plan_path

    def plan_at(self, ref: str) -> Plan:
        """A plan by reference: a version number on the controller, else a plan file."""
        if self.server is not None and ref.strip().isdigit():
            with self.client() as c:
                return Plan.from_dict(c.plan(int(ref)), file=f"controller plan {ref}")
        return Plan.load(ref)

    def desired_version(self) -> int:
        """The controller's desired plan version (0: none)."""
        with self.client() as c:
            return int(c.plans()["desired_version"])
