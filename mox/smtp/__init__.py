"""SMTP: sans-IO protocol (codes, address, parse, protocol, sasl), trio server, client."""
