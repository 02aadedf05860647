// Browser wallets: EIP-6963 discovery of every injected wallet (announced with a name and icon), and
// the legacy `window.ethereum` when none announces itself.

/** Calls `onChange(list)` whenever the list of wallets grows; each item is {info: {uuid, name, icon}, provider}. */
export function discoverWallets(onChange) {
  const found = new Map();
  const report = () => {
    const list = [...found.values()];
    if (list.length === 0 && window.ethereum) {
      list.push({ info: { uuid: "injected", name: "Browser wallet", icon: "" }, provider: window.ethereum });
    }
    onChange(list);
  };
  window.addEventListener("eip6963:announceProvider", (event) => {
    const detail = event.detail;
    if (detail?.info?.uuid && detail.provider?.request) {
      found.set(detail.info.uuid, detail);
      report();
    }
  });
  window.dispatchEvent(new Event("eip6963:requestProvider"));
  report();
}

/** The first account the wallet grants, or an error (code 4001 when the user says no). */
export async function requestAccount(provider) {
  const accounts = await provider.request({ method: "eth_requestAccounts" });
  if (!accounts?.length) throw new Error("The wallet gave no account.");
  return accounts[0];
}

export async function walletChainId(provider) {
  return Number(BigInt(await provider.request({ method: "eth_chainId" })));
}

/** Ask the wallet to switch to `chain`; add it first if the wallet doesn't know it (code 4902). */
export async function switchTo(provider, chain) {
  const chainId = "0x" + chain.id.toString(16);
  try {
    await provider.request({ method: "wallet_switchEthereumChain", params: [{ chainId }] });
  } catch (error) {
    if (error?.code !== 4902) throw error;
    await provider.request({
      method: "wallet_addEthereumChain",
      params: [{ chainId, chainName: chain.name, nativeCurrency: chain.nativeCurrency,
                 rpcUrls: chain.rpcUrls.default.http }],
    });
  }
}

export function onWalletEvents(provider, handler) {
  if (typeof provider.on === "function") {
    provider.on("accountsChanged", handler);
    provider.on("chainChanged", handler);
  }
}
