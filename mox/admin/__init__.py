"""Administration of a running mox: the operations behind the control channel, the CLI and the
admin web page.

- :mod:`mox.admin.provision`: accounts and addresses (domains.conf), account passwords.
- :mod:`mox.admin.transfer`: import (Maildir, mbox), export and backup.
"""
