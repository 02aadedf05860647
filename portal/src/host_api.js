// A host's tenant API, asked with a request the wallet signs (EIP-712, as chain/signed_requests.py
// defines it): where the host is comes from its latest HostApiSet event on-chain.

const TYPES = {
  Request: [
    { name: "allocation", type: "uint64" }, { name: "action", type: "string" }, { name: "params", type: "string" },
    { name: "issuedAt", type: "uint64" }, { name: "expiresAt", type: "uint64" }, { name: "nonce", type: "bytes32" },
  ],
};

export class HostApiError extends Error {}

export async function hostApiUrl(deployment, hostId) {
  const logs = await deployment.events("HostApiSet", { hostId });
  if (logs.length === 0) throw new HostApiError(`Host ${hostId} publishes no tenant API; ask its operator.`);
  return logs[logs.length - 1].args.url;
}

/** The allocation's live `status` from its host (one signature in the wallet). */
export async function askHost(deployment, allocationId, action = "status") {
  const url = await hostApiUrl(deployment, Number(allocationId >> 32n));
  const now = Math.floor(Date.now() / 1000);
  const nonce = "0x" + [...crypto.getRandomValues(new Uint8Array(32))].map((b) => b.toString(16).padStart(2, "0")).join("");
  const message = { allocation: allocationId, action, params: "{}", issuedAt: BigInt(now), expiresAt: BigInt(now + 120), nonce };
  const signature = await deployment.writer.signTypedData({
    account: deployment.account, primaryType: "Request", types: TYPES, message,
    domain: { name: "TenantChain host API", version: "1", chainId: deployment.config.chain_id,
              verifyingContract: deployment.address },
  });
  const request = { ...message, allocation: allocationId.toString(), issuedAt: now, expiresAt: now + 120 };
  let response;
  try {
    response = await fetch(`${url}/v1/allocations/${allocationId}/${action}`, {
      method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify({ request, signature }),
    });
  } catch {
    throw new HostApiError(`The host's API at ${url} doesn't answer from this browser (down, or its certificate isn't trusted here).`);
  }
  const body = await response.json().catch(() => ({}));
  if (!response.ok) throw new HostApiError(`The host refused: ${body.error || "HTTP " + response.status}`);
  return body;
}
