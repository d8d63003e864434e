/**
 * The API calls the controller makes, by the names the generated client gives them,
 * on ApiClient: callers keep their shape, and the process does not load the
 * generated client. Objects go out and come back as plain JSON (times as strings,
 * `metadata.continue` as the server names it).
 */
import type { CoreV1Event, V1ConfigMap, V1DeleteOptions, V1Lease, V1MutatingWebhookConfiguration, V1Pod, V1PodList, V1Secret } from '@kubernetes/client-node';
import type { ApiClient } from './api-client.js';

const seg = encodeURIComponent;

export type CoreCalls = ReturnType<typeof coreCalls>;
export type CustomObjectCalls = ReturnType<typeof customObjectCalls>;

export function coreCalls(api: ApiClient) {
  return {
    createNamespacedPod: (p: { namespace: string; body: V1Pod }): Promise<V1Pod> => api.call('POST', `/api/v1/namespaces/${seg(p.namespace)}/pods`, { body: p.body }),
    deleteNamespacedPod: (p: { namespace: string; name: string; gracePeriodSeconds?: number; body?: V1DeleteOptions }): Promise<V1Pod> =>
      api.call('DELETE', `/api/v1/namespaces/${seg(p.namespace)}/pods/${seg(p.name)}`, { query: { gracePeriodSeconds: p.gracePeriodSeconds }, body: p.body }),
    createNamespacedEvent: (p: { namespace: string; body: CoreV1Event }): Promise<CoreV1Event> => api.call('POST', `/api/v1/namespaces/${seg(p.namespace)}/events`, { body: p.body }),
    listPodForAllNamespaces: async (p: { fieldSelector?: string; labelSelector?: string; limit?: number; _continue?: string }): Promise<V1PodList> => {
      const list = await api.call<V1PodList & { metadata?: { continue?: string } }>('GET', '/api/v1/pods', {
        query: { fieldSelector: p.fieldSelector, labelSelector: p.labelSelector, limit: p.limit, continue: p._continue },
      });
      // The generated model calls it _continue.
      return { ...list, items: Array.isArray(list?.items) ? list.items : [], metadata: { ...list?.metadata, _continue: list?.metadata?.continue ?? '' } };
    },
    readNamespacedConfigMap: (p: { namespace: string; name: string }): Promise<V1ConfigMap> => api.call('GET', `/api/v1/namespaces/${seg(p.namespace)}/configmaps/${seg(p.name)}`),
    replaceNamespacedConfigMap: (p: { namespace: string; name: string; body: V1ConfigMap }): Promise<V1ConfigMap> =>
      api.call('PUT', `/api/v1/namespaces/${seg(p.namespace)}/configmaps/${seg(p.name)}`, { body: p.body }),
    createNamespacedConfigMap: (p: { namespace: string; body: V1ConfigMap }): Promise<V1ConfigMap> => api.call('POST', `/api/v1/namespaces/${seg(p.namespace)}/configmaps`, { body: p.body }),
    readNamespacedSecret: (p: { namespace: string; name: string }): Promise<V1Secret> => api.call('GET', `/api/v1/namespaces/${seg(p.namespace)}/secrets/${seg(p.name)}`),
    replaceNamespacedSecret: (p: { namespace: string; name: string; body: V1Secret }): Promise<V1Secret> =>
      api.call('PUT', `/api/v1/namespaces/${seg(p.namespace)}/secrets/${seg(p.name)}`, { body: p.body }),
    createNamespacedSecret: (p: { namespace: string; body: V1Secret }): Promise<V1Secret> => api.call('POST', `/api/v1/namespaces/${seg(p.namespace)}/secrets`, { body: p.body }),
  };
}

export type AdmissionCalls = ReturnType<typeof admissionCalls>;

export function admissionCalls(api: ApiClient) {
  const path = '/apis/admissionregistration.k8s.io/v1/mutatingwebhookconfigurations';
  return {
    readMutatingWebhookConfiguration: (p: { name: string }): Promise<V1MutatingWebhookConfiguration> => api.call('GET', `${path}/${seg(p.name)}`),
    replaceMutatingWebhookConfiguration: (p: { name: string; body: V1MutatingWebhookConfiguration }): Promise<V1MutatingWebhookConfiguration> =>
      api.call('PUT', `${path}/${seg(p.name)}`, { body: p.body }),
  };
}

interface CustomObjectPath {
  group: string;
  version: string;
  plural: string;
  namespace: string;
}

const customPath = (p: CustomObjectPath): string => `/apis/${seg(p.group)}/${seg(p.version)}/namespaces/${seg(p.namespace)}/${seg(p.plural)}`;

export function customObjectCalls(api: ApiClient) {
  return {
    createNamespacedCustomObject: (p: CustomObjectPath & { body: object }): Promise<unknown> => api.call('POST', customPath(p), { body: p.body }),
    deleteNamespacedCustomObject: (p: CustomObjectPath & { name: string }): Promise<unknown> => api.call('DELETE', `${customPath(p)}/${seg(p.name)}`),
    /** A JSON merge patch of the status subresource. */
    patchNamespacedCustomObjectStatus: (p: CustomObjectPath & { name: string; body: object }): Promise<unknown> =>
      api.call('PATCH', `${customPath(p)}/${seg(p.name)}/status`, { body: p.body, contentType: 'application/merge-patch+json' }),
  };
}

export function leaseCalls(api: ApiClient) {
  const path = (namespace: string): string => `/apis/coordination.k8s.io/v1/namespaces/${seg(namespace)}/leases`;
  return {
    read: (namespace: string, name: string, signal: AbortSignal): Promise<V1Lease> => api.call('GET', `${path(namespace)}/${seg(name)}`, { signal }),
    create: (namespace: string, body: V1Lease, signal: AbortSignal): Promise<V1Lease> => api.call('POST', path(namespace), { body, signal }),
    replace: (namespace: string, name: string, body: V1Lease, signal: AbortSignal): Promise<V1Lease> => api.call('PUT', `${path(namespace)}/${seg(name)}`, { body, signal }),
  };
}
