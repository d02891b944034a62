"""Local delivery decisions: rulesets (``rules``), the junk filter verdict and the rejects
mailbox (``deliver``), and the store's junk settings from the config (``settings``)."""
