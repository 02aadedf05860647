"""One root exception with families, mapped at each boundary (``raise ... from``).

The CLI prints ``str(error)`` of any :class:`TenantChainError` as one line and exits non-zero;
anything else is a bug and keeps its traceback.
"""


class TenantChainError(Exception):
    """Root of every error this package raises on purpose."""


class ConfigError(TenantChainError):
    """Bad or missing configuration: a file, a flag, a tool that is not installed."""


class BuildError(TenantChainError):
    """The Solidity compiler could not be found or refused the sources."""


class ChainError(TenantChainError):
    """The chain (RPC) is unreachable or refused a call."""


class ContractRefused(ChainError):
    """The contract reverted: ``error`` is its custom error's name (None if not decoded) and ``values``
    the decoded arguments, for callers that act on which refusal it was (a cooldown's end, say)."""

    def __init__(self, message: str, error: str | None = None, values: tuple = ()):
        super().__init__(message)
        self.error = error
        self.values = values


class DockerHostError(TenantChainError):
    """The Docker daemon is unreachable or refused an operation."""


class HostApiError(TenantChainError):
    """A host's HTTP API (status, endpoints) is unreachable or answered something unexpected."""


class HostIdentityError(HostApiError):
    """A host's API presents a certificate other than the one its operator recorded on-chain."""
