/** What the lake knows about one object. `etag` changes whenever the content changes. */
export interface ObjectInfo {
  key: string;
  etag: string;
  size: number;
  lastModified: Date;
}

export interface PutOptions {
  contentType?: string;
  /** Write only if the object still has this ETag (optimistic concurrency). */
  ifMatch?: string;
  /** Write only if no object exists under the key. */
  ifNoneMatch?: boolean;
}

/**
 * The port every layer uses to reach the lake. Two adapters: a local directory and S3.
 * Keys are relative to the lake root (`views/batch/…`); adapters add their own prefix.
 */
export interface ObjectStore {
  /** Human-readable location for logs and error messages, e.g. `s3://bucket/prefix` or `./.twinflow/lake`. */
  readonly location: string;
  get(key: string): Promise<{ body: Buffer; etag: string } | undefined>;
  head(key: string): Promise<ObjectInfo | undefined>;
  put(key: string, body: Buffer | string, options?: PutOptions): Promise<{ etag: string }>;
  /** Every object under `prefix`, recursively, sorted by key. */
  list(prefix: string): Promise<ObjectInfo[]>;
  delete(keys: readonly string[]): Promise<void>;
  /** Uploads a local file (DuckDB output) under `key`. */
  putFile(key: string, localPath: string): Promise<{ etag: string }>;
  /**
   * A local path DuckDB can read for `key`. The local adapter returns the file itself; S3 downloads into
   * a cache directory keyed by ETag, so immutable objects are fetched once per warm container.
   */
  localPath(info: ObjectInfo): Promise<string>;
}

/** Reads a JSON document, or `undefined` when the key does not exist. */
export async function getJson<T>(
  store: ObjectStore,
  key: string,
): Promise<{ value: T; etag: string } | undefined> {
  const object = await store.get(key);
  if (!object) return undefined;
  return { value: JSON.parse(object.body.toString('utf8')) as T, etag: object.etag };
}

/** Writes a JSON document (pretty-printed: people read these at 3 a.m.). */
export function putJson(
  store: ObjectStore,
  key: string,
  value: unknown,
  options: PutOptions = {},
): Promise<{ etag: string }> {
  return store.put(key, `${JSON.stringify(value, null, 2)}\n`, {
    contentType: 'application/json',
    ...options,
  });
}
