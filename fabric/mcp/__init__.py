"""``fabricctl mcp``: the controller and the planners as a Model Context Protocol server (issue 18).

- :mod:`fabric.mcp.backend`: where the fabric and the current plan come from (files, or a running
  controller through :class:`fabric.server.client.ControllerClient`);
- :mod:`fabric.mcp.tools`: the tools as plain functions returning JSON data, each a thin call of an
  existing library or API function (no second implementation);
- :mod:`fabric.mcp.confirm`: one-time confirmation tokens of the act tools;
- :mod:`fabric.mcp.app`: the server itself (the official ``mcp`` SDK's ``MCPServer``): typed tools,
  resources, prompts, errors as tool errors carrying the CLI's one-line message.

The package is named after the protocol; inside it ``import mcp`` is the SDK (absolute imports).
"""
