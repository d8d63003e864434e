// A small cluster for the status view: three nodes, two ImageCaches that overlap
// on one image, every cell state, and a failure reason with markup in it.
import type { StatusCacheInput, StatusNodeInput } from '../../src/status/model.js';

export const STATUS_NODES: StatusNodeInput[] = [
  { name: 'node-a', images: [['docker.io/library/nginx:1.25'], ['registry.example/ml/model-server@sha256:' + 'a'.repeat(64), 'registry.example/ml/model-server:2.0']] },
  { name: 'node-b', images: [['docker.io/library/nginx:1.25']] },
  { name: 'node-c', images: [] },
];

export const STATUS_CACHES: StatusCacheInput[] = [
  {
    namespace: 'shop',
    name: 'web',
    images: ['nginx:1.25', 'redis:7.2'],
    status: {
      wantedNodes: 3,
      cachedNodes: 0,
      conditions: [{ type: 'Ready', status: 'False', reason: 'Pulling' }],
      images: [
        // node-b still lists its older pull, but the cache's re-pull (refresh) failed there.
        { image: 'docker.io/library/nginx:1.25', nodes: [{ node: 'node-c', state: 'pulling' }, { node: 'node-b', state: 'failed', reason: 'refresh: 401 Unauthorized' }] },
        {
          image: 'docker.io/library/redis:7.2',
          nodes: [
            { node: 'node-a', state: 'failed', reason: 'ErrImagePull: <manifest unknown>' },
            { node: 'node-b', state: 'pending' },
          ],
        },
        // Status for an image the spec no longer names: not shown.
        { image: 'docker.io/library/old:1', nodes: [{ node: 'node-a', state: 'cached' }] },
      ],
    },
  },
  {
    namespace: 'ml',
    name: 'models',
    images: ['registry.example/ml/model-server:2.0', 'redis:7.2'],
    status: {
      wantedNodes: 2,
      cachedNodes: 1,
      conditions: [{ type: 'Ready', status: 'True', reason: 'AllCached' }],
      images: [{ image: 'docker.io/library/redis:7.2', nodes: [{ node: 'node-a', state: 'cached' }] }],
    },
  },
];
