"""Servers the benchmarks run against, each started on 127.0.0.1 in a throwaway directory.

`moxserver` starts mox's localserve as a subprocess; `dovecot` and `postfix` start the peers from a
configuration written into a temporary directory (installing the Debian package when missing);
`aiosmtpd_peer` is the fallback SMTP peer. `util` holds what the benchmark scripts share: free
ports, waiting for a listener, running client workers in parallel, the result table and a
description of the machine.
"""
