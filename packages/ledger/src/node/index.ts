export { KeyFileError, createNodeCheckpointSigner, createSignerKeyFile, ledgerStateFileFor, readSignerKeyFile } from './key-file.ts';
