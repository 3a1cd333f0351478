"""The FastAPI service: routes, errors, the web page."""
