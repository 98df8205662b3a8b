export { KeyFileError, createSignerKeyFile, readSignerKeyFile } from './key-file.ts';
