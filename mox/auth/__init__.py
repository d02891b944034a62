"""Who may log in, and how: passwords, SASL, client certificates.

- :mod:`mox.auth.authenticator`: ``Authenticator`` (``ctx.auth``): addresses to accounts, logins
  with the password hash in a worker thread, delivery destinations.
- :mod:`mox.auth.cache`: recently verified passwords (a keyed hash), so a login again skips scrypt.
- :mod:`mox.auth.password`: the one password scheme (scrypt for PLAIN/LOGIN and the admin
  password, SCRAM and CRAM-MD5 secrets), passwords PRECIS-prepared.
- :mod:`mox.auth.precis`: PRECIS OpaqueString (RFC 8265) for passwords.
- :mod:`mox.auth.sasl`: SASL mechanisms, server and client side, sans-IO.
- :mod:`mox.auth.tlspubkey`: TLS client certificates that log in by their public key.

Import the modules themselves (this package re-exports nothing: the store imports
``mox.auth.password``, and the authenticator sits above the store).
"""
