"""gunicorn settings for the web processes: ``gunicorn -c python:web.gunicorn_config wsgi:app``.

The access log is off unless asked for (``--access-logfile -``); when on, it is written by
web.accesslog.AccessLogger: method, path with tokens replaced by ``{token}``, status,
bytes and duration, never a token or a query string."""

logger_class = "web.accesslog.AccessLogger"
access_log_format = '%(h)s "%(r)s" %(s)s %(b)s %(M)sms'
