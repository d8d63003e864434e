/** The names users and the API server see; fixed by the product's contract. */
export const ANNOTATION_PREFIX = 'image-locality.dev';
/** On a Namespace: "true" opts its pods in. */
export const NAMESPACE_ENABLED = `${ANNOTATION_PREFIX}/enabled`;
/** On a Pod: "true" opts this pod out. */
export const POD_SKIP = `${ANNOTATION_PREFIX}/skip`;
/** On a Pod: what this webhook injected, so a second invocation can replace exactly that. */
export const POD_INJECTED = `${ANNOTATION_PREFIX}/injected`;
/** Set by the kubelet on mirror pods of static pods. */
export const MIRROR_POD = 'kubernetes.io/config.mirror';
/** Namespaces that are never mutated whatever the policy says. */
export const SYSTEM_NAMESPACES: readonly string[] = ['kube-system'];
