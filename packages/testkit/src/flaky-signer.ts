import type { CheckpointSigner } from '@covenant/ledger';

/** A checkpoint signer that signs with `signer` until `failNext()` is called: then its next signature fails (an HSM going away for one batch). */
export interface FlakySigner extends CheckpointSigner {
  failNext(): void;
}

export function flakySigner(signer: CheckpointSigner): FlakySigner {
  let fail = false;
  return {
    name: signer.name,
    keyId: signer.keyId,
    publicKey: signer.publicKey,
    sign(checkpoint) {
      if (fail) {
        fail = false;
        throw new Error('HSM unavailable');
      }
      return signer.sign(checkpoint);
    },
    digest: (text) => signer.digest(text),
    failNext() {
      fail = true;
    },
  };
}
