"""The controller's web view and Prometheus metrics (issue 17), and the offline HTML report.

- :mod:`fabric.web.views`: pure functions from a Fabric and a Plan to the JSON documents the page
  draws (map layout with aggregation, planned utilisation, budgets, cc parameters);
- :mod:`fabric.web.live`: those documents for a running :class:`fabric.server.service.Controller`;
- :mod:`fabric.web.app`: the Starlette application (page, JSON API, server-sent events, ``/metrics``);
- :mod:`fabric.web.metrics`: the prometheus-client registry, the controller observer and the gRPC
  interceptor that counts API calls;
- :mod:`fabric.web.report`: ``fabricctl report``, one self-contained HTML file.

The page's JavaScript and CSS (``static/``) are this project's own code (no third-party library).
"""
