"""mox: a modern mail server, shipped as one file.

`mox localserve` gives a complete private mail setup on localhost: SMTP, submission, IMAP and web.
"""

__version__ = "0.1.0"
