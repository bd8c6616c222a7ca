// Layer apply and compare (containerd's archive package, diff/apply, diff/walking).
export { applyLayer, type ApplyLayerOptions, type ApplyLayerExtraOptions, type ApplyResult } from './apply';
export { ApplyError, LayerApplier } from './applier';
export { decompress, decompressStream, detectCompression, type Compression, type Decompressed } from './decompress';
export { writeDiff, writeOverlayDiff, type DiffOptions, type DiffResult } from './compare';
export { rootPath, hardlinkRootPath, TooManyLinksError } from './rootpath';
export { InvalidWhiteoutError } from './whiteout';
export { TarFormatError } from './tarreader';
export { closeWorkers, prewarm } from './workerpool';
