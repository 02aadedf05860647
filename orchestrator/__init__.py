"""TenantChain: multi-tenant cloud resources governed by Ethereum contracts, enforced on Docker hosts."""

__version__ = "0.1.0"
