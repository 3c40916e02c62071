// Sign-in with an Ethereum wallet (EIP-1193 provider at window.ethereum): the server's SIWE
// challenge, signed with personal_sign.

export interface Eip1193Provider {
  request(args: { method: string; params?: unknown[] }): Promise<unknown>;
}

export function walletProvider(): Eip1193Provider | null {
  const candidate = (globalThis as { ethereum?: unknown }).ethereum;
  if (candidate && typeof (candidate as Eip1193Provider).request === "function") {
    return candidate as Eip1193Provider;
  }
  return null;
}

/** personal_sign takes the message as 0x-prefixed hex of its UTF-8 bytes. */
export function toHexUtf8(text: string): string {
  return `0x${Array.from(new TextEncoder().encode(text), (b) => b.toString(16).padStart(2, "0")).join("")}`;
}
