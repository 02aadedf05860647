// The deployment as the portal sees it: reads through the configured RPC (or the wallet), writes
// through the wallet, simulated first so that a refusal is decoded before anything is signed.
import { createPublicClient, createWalletClient, custom, defineChain, http, keccak256, parseEventLogs, toBytes } from "viem";

export class Deployment {
  constructor(config) {
    this.config = config;
    this.address = config.tenantchain;
    this.abi = config.abi.tenantchain;
    this.tokenAbi = config.abi.token;
    this.chain = defineChain({
      id: config.chain_id, name: config.chain_name,
      nativeCurrency: { name: "Ether", symbol: "ETH", decimals: 18 },
      rpcUrls: { default: { http: config.rpc_url ? [config.rpc_url] : [] } },
    });
    this.reader = config.rpc_url
      ? createPublicClient({ chain: this.chain, transport: http(config.rpc_url), pollingInterval: 500 })
      : null;
    this.writer = null;
    this.account = null;
    this.token = null;
  }

  /** Use `provider` for writes (and for reads when no RPC is configured). */
  connect(provider, account) {
    this.account = account;
    this.writer = createWalletClient({ account, chain: this.chain, transport: custom(provider) });
    if (!this.config.rpc_url) {
      this.reader = createPublicClient({ chain: this.chain, transport: custom(provider), pollingInterval: 500 });
    }
  }

  read(functionName, args = []) {
    return this.reader.readContract({ address: this.address, abi: this.abi, functionName, args });
  }

  async tokenInfo() {
    if (!this.token) {
      const read = (functionName) => this.reader.readContract({ address: this.config.token, abi: this.tokenAbi, functionName });
      const [decimals, symbol] = await Promise.all([read("decimals"), read("symbol")]);
      this.token = { decimals: Number(decimals), symbol };
    }
    return this.token;
  }

  tokenRead(functionName, args) {
    return this.reader.readContract({ address: this.config.token, abi: this.tokenAbi, functionName, args });
  }

  /** Simulate, sign in the wallet, wait for the receipt. `progress(text)` narrates. */
  async send(label, functionName, args, progress, target = "tenantchain") {
    const [address, abi] = target === "token" ? [this.config.token, this.tokenAbi] : [this.address, this.abi];
    progress(`${label}: checking…`);
    const call = { address, abi, functionName, args, account: this.account };
    const { request } = await this.reader.simulateContract(call);
    // The gas limit as the CLI sets it (estimate x 1.2 + 60k): a charge that depends on the block's
    // time can cost more when mined than when estimated, and not every wallet adds a margin.
    request.gas = ((await this.reader.estimateContractGas(call)) * 12n) / 10n + 60_000n;
    progress(`${label}: confirm in your wallet…`);
    const hash = await this.writer.writeContract(request);
    progress(`${label}: waiting for the transaction…`);
    const receipt = await this.reader.waitForTransactionReceipt({ hash });
    if (receipt.status !== "success") {
      // It passed the simulation, so a transaction ahead of it in its block changed the state (a price
      // rise in front of a request, say): the same call on that block's state names the refusal.
      await this.reader.simulateContract({ ...call, blockNumber: receipt.blockNumber });
      throw new Error(`${label}: the transaction was reverted`);
    }
    return receipt;
  }

  events(eventName, args, address = this.address) {
    return this.reader.getContractEvents({
      address, abi: this.abi, eventName, args, fromBlock: BigInt(this.config.start_block), toBlock: "latest",
    });
  }

  /** What a request or resize of `resources` on `hostId` may cost at most, read now: the rate (the
   * host's reserved prices with its surcharge) and the metered prices, agreed for the allocation's life.
   * The chain refuses the transaction if the host's prices rise above them before it is mined. */
  async quote(hostId, resources) {
    const [rate, host] = await Promise.all([this.read("rateOf", [hostId, resources]), this.read("getHost", [hostId])]);
    return { rate, metered: host.meteredPrices, host };
  }

  requestedIn(receipt) {
    return parseEventLogs({ abi: this.abi, logs: receipt.logs, eventName: "AllocationRequested" })[0].args;
  }

  // --- views the page shows ---------------------------------------------------------------

  /** Every host with its on-chain record (as `tenantchain hosts`): served is its allocationCount,
   * rejections and dropped report lines are counted by TenantChain, the bond and disputes by the market;
   * `bondShort` when the market flagged the bond (TenantChain admits nothing new on the host). */
  async hosts() {
    const count = Number(await this.read("hostCount"));
    const ids = Array.from({ length: count }, (_, i) => i + 1);
    const market = (functionName, args) => (this.config.market
      ? this.reader.readContract({ address: this.config.market, abi: this.config.abi.market, functionName, args })
      : null);
    return Promise.all(ids.map(async (id) => {
      const [host, [surchargePct, rejected, dropped], bondShort, bond, reputation] = await Promise.all([
        this.read("getHost", [id]), this.read("hostRecordOf", [id]), this.read("hostBondShort", [id]),
        market("bondOf", [id]), market("reputationOf", [id])]);
      return { id, ...host, surchargePct, rejected, dropped, bondShort, bond, reputation };
    }));
  }

  async allocations(tenant) {
    const requested = await this.events("AllocationRequested", { tenant });
    if (requested.length === 0) return [];
    const ids = requested.map((log) => log.args.allocationId);
    const [records, closed] = await Promise.all([
      Promise.all(ids.map((id) => this.read("getAllocation", [id]))),
      this.events("AllocationClosed", { allocationId: ids }),
    ]);
    const closedBy = new Map(closed.map((log) => [log.args.allocationId, log.args]));
    // Scaling policies of the active ones: [min, max, maxRatePerSecond, lastAutoResize]; a 0 ceiling is none.
    const policies = await Promise.all(ids.map((id, i) => (records[i].status === 1
      ? this.read("scalingPolicyOf", [id]) : null)));
    return ids.map((id, i) => ({
      id, ...records[i], closed: closedBy.get(id),
      policy: policies[i] && policies[i][2] > 0n ? { min: policies[i][0], max: policies[i][1], ceiling: policies[i][2] } : null,
    }));
  }

  metadataHash(uri) {
    return keccak256(toBytes(uri));
  }
}
