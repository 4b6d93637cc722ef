"""The playground: a page for a browser (index.html, app.js, style.css beside this module)
that talks to the model through the gateway's own public HTTP API; `page.py` serves it."""
