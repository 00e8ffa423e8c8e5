"""Organisation identity: SM2 X.509 certificates bound to organisations."""
