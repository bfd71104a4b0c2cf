"""Use-cases and the ports they drive (declared here, as Protocols)."""
