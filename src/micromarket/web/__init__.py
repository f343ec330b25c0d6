"""The server (``micromarket serve``): the REST API, the customers' links and the pages, over one
workspace. Make it with :func:`micromarket.web.app.create_app`."""
