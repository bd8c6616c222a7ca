// Names containerd's CRI plugin (pkg/cri/server/helpers.go, pkg/cri/annotations) writes on
// the core records and the OCI specs it makes, so tools that read them (ctr -n k8s.io,
// nerdctl, monitoring agents) see berthd's pods and containers as containerd's.

/** The core namespace every CRI object lives in. */
export const K8S_NAMESPACE = 'k8s.io';

export const CRI_PREFIX = 'io.cri-containerd';
/** Label on core containers: which kind of CRI object this record is. */
export const CONTAINER_KIND_LABEL = `${CRI_PREFIX}.kind`;
export const CONTAINER_KIND_SANDBOX = 'sandbox';
export const CONTAINER_KIND_CONTAINER = 'container';
/** Core container extensions holding the CRI metadata (JSON, as containerd's typeurl does). */
export const SANDBOX_METADATA_EXTENSION = `${CRI_PREFIX}.sandbox.metadata`;
export const CONTAINER_METADATA_EXTENSION = `${CRI_PREFIX}.container.metadata`;
/** typeurl names containerd registers its JSON metadata under. */
export const SANDBOX_METADATA_TYPE_URL = 'github.com/containerd/cri/pkg/store/sandbox/Metadata';
export const CONTAINER_METADATA_TYPE_URL = 'github.com/containerd/cri/pkg/store/container/Metadata';

/** OCI spec annotations (containerd pkg/cri/annotations). */
export const ANNOTATION_CONTAINER_TYPE = 'io.kubernetes.cri.container-type';
export const CONTAINER_TYPE_SANDBOX = 'sandbox';
export const CONTAINER_TYPE_CONTAINER = 'container';
export const ANNOTATION_SANDBOX_ID = 'io.kubernetes.cri.sandbox-id';
export const ANNOTATION_SANDBOX_NAMESPACE = 'io.kubernetes.cri.sandbox-namespace';
export const ANNOTATION_SANDBOX_UID = 'io.kubernetes.cri.sandbox-uid';
export const ANNOTATION_SANDBOX_NAME = 'io.kubernetes.cri.sandbox-name';
export const ANNOTATION_SANDBOX_LOG_DIR = 'io.kubernetes.cri.sandbox-log-directory';
export const ANNOTATION_CONTAINER_NAME = 'io.kubernetes.cri.container-name';
export const ANNOTATION_IMAGE_NAME = 'io.kubernetes.cri.image-name';

/** Exit reasons (helpers.go). */
export const REASON_COMPLETED = 'Completed';
export const REASON_ERROR = 'Error';
export const REASON_OOM_KILLED = 'OOMKilled';
export const REASON_START_ERROR = 'StartError';
export const REASON_UNKNOWN = 'Unknown';
/** Exit code of a container that failed to start (Docker's and containerd's 128). */
export const START_ERROR_EXIT_CODE = 128;
export const UNKNOWN_EXIT_CODE = 255;

/** The pod's interface CNI names (helpers.go defaultIfName). */
export const DEFAULT_IF_NAME = 'eth0';

/** The OCI spec type containerd stores on core containers. */
export const SPEC_TYPE_URL = 'types.containerd.io/opencontainers/runtime-spec/1/Spec';
