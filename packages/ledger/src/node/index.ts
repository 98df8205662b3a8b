export { KeyFileError, createNodeCheckpointSigner, createSignerKeyFile, readSignerKeyFile } from './key-file.ts';
