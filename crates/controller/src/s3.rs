//! The control plane's S3 client, for CopySnapshot exports and SnapshotArns restores.
//! It takes the usual AWS settings from the environment (`AWS_ACCESS_KEY_ID`,
//! `AWS_SECRET_ACCESS_KEY`, `AWS_REGION`, `AWS_ENDPOINT_URL`, `AWS_ALLOW_HTTP`), with
//! `--s3-endpoint` over the environment's endpoint for an S3-compatible server.
//! Uploads go through S3 multipart, which shows an object only once complete, so a
//! crash mid-upload leaves no partial object, and the upload is simply redone.

use std::path::Path;
use std::sync::Arc;

use larder_model::Fault;
use object_store::aws::AmazonS3Builder;
use object_store::buffered::BufWriter;
use object_store::path::Path as ObjectPath;
use object_store::ObjectStore;
use tokio::io::AsyncWriteExt;

/// How much of a file one write hands the uploader (it sends parts of its own size).
const UPLOAD_BLOCK: usize = 1 << 20;

/// Why an object could not be fetched.
#[derive(Debug)]
pub(crate) enum FetchError {
    /// The bucket or the object does not exist: nothing to retry.
    Missing(String),
    /// Anything else (the endpoint did not answer, a local write failed).
    Other(String),
}

impl std::fmt::Display for FetchError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            FetchError::Missing(m) | FetchError::Other(m) => f.write_str(m),
        }
    }
}

/// Builds clients for one bucket at a time from the daemon's settings.
#[derive(Debug, Clone)]
pub(crate) struct S3 {
    region: String,
    endpoint: Option<String>,
}

impl S3 {
    /// A client factory for `region`, with an optional endpoint override.
    pub(crate) fn new(region: &str, endpoint: Option<String>) -> S3 {
        S3 {
            region: region.to_string(),
            endpoint,
        }
    }

    fn bucket(&self, bucket: &str) -> Result<Arc<dyn ObjectStore>, String> {
        let mut b = AmazonS3Builder::from_env().with_bucket_name(bucket);
        if std::env::var_os("AWS_REGION").is_none()
            && std::env::var_os("AWS_DEFAULT_REGION").is_none()
        {
            b = b.with_region(&self.region);
        }
        if let Some(e) = &self.endpoint {
            // A plain-http endpoint is a test server or a private one the operator named.
            b = b.with_endpoint(e).with_allow_http(e.starts_with("http://"));
        }
        b.build()
            .map(|s| Arc::new(s) as Arc<dyn ObjectStore>)
            .map_err(|e| format!("S3 client for bucket {bucket}: {e}"))
    }

    /// Which of `keys` exist in `bucket`; InvalidParameterValue when the bucket does
    /// not exist, as ElastiCache answers an export to one.
    pub(crate) async fn existing_keys(
        &self,
        bucket: &str,
        keys: &[String],
    ) -> Result<Vec<String>, Fault> {
        let store = self.bucket(bucket).map_err(Fault::Internal)?;
        {
            // Listing an empty prefix costs one request and tells a missing bucket
            // (404) from an existing one; HEAD of an object cannot.
            let probe = ObjectPath::from("larder-bucket-probe");
            match store.list_with_delimiter(Some(&probe)).await {
                Ok(_) => {}
                Err(object_store::Error::NotFound { .. }) => {
                    return Err(Fault::InvalidParameterValue(format!(
                        "The S3 bucket {bucket} does not exist."
                    )))
                }
                Err(e) => {
                    return Err(Fault::InvalidParameterValue(format!(
                        "The S3 bucket {bucket} cannot be reached: {e}"
                    )))
                }
            }
            let mut taken = Vec::new();
            for k in keys {
                match store.head(&ObjectPath::from(k.as_str())).await {
                    Ok(_) => taken.push(k.clone()),
                    Err(object_store::Error::NotFound { .. }) => {}
                    Err(e) => {
                        return Err(Fault::Internal(format!(
                            "looking for s3://{bucket}/{k}: {e}"
                        )))
                    }
                }
            }
            Ok(taken)
        }
    }

    /// Uploads the file at `file` as `bucket/key`; the object appears only once
    /// complete. Its size is checked against the file's afterwards.
    pub(crate) async fn upload(&self, bucket: &str, key: &str, file: &Path) -> Result<(), String> {
        use tokio::io::AsyncReadExt;
        let store = self.bucket(bucket)?;
        let path = ObjectPath::from(key);
        let io = |e: std::io::Error| format!("reading {}: {e}", file.display());
        let mut f = tokio::fs::File::open(file).await.map_err(io)?;
        let size = f.metadata().await.map_err(io)?.len();
        let mut w = BufWriter::new(store.clone(), path.clone());
        let mut buf = vec![0u8; UPLOAD_BLOCK];
        let sent: Result<(), String> = async {
            loop {
                let n = f.read(&mut buf).await.map_err(io)?;
                if n == 0 {
                    break;
                }
                w.write_all(&buf[..n])
                    .await
                    .map_err(|e| format!("uploading s3://{bucket}/{key}: {e}"))?;
            }
            w.shutdown()
                .await
                .map_err(|e| format!("completing s3://{bucket}/{key}: {e}"))
        }
        .await;
        if let Err(e) = sent {
            // Best effort: parts of an unfinished multipart upload cost storage.
            let _ = w.abort().await;
            return Err(e);
        }
        let meta = store
            .head(&path)
            .await
            .map_err(|e| format!("checking s3://{bucket}/{key}: {e}"))?;
        if meta.size != size {
            return Err(format!(
                "s3://{bucket}/{key} has {} bytes, the file {size}",
                meta.size
            ));
        }
        Ok(())
    }

    /// Downloads `bucket/key` to `dest` through `dest`'s `.partial` sibling, renamed
    /// only once complete, and refuses an object larger than `max_bytes`.
    pub(crate) async fn download(
        &self,
        bucket: &str,
        key: &str,
        dest: &Path,
        max_bytes: u64,
    ) -> Result<(), FetchError> {
        use futures_util::StreamExt;
        let other = FetchError::Other;
        let store = self.bucket(bucket).map_err(other)?;
        let got = match store.get(&ObjectPath::from(key)).await {
            Ok(g) => g,
            Err(object_store::Error::NotFound { .. }) => {
                return Err(FetchError::Missing(format!(
                    "the object s3://{bucket}/{key} does not exist"
                )))
            }
            Err(e) => return Err(other(format!("reading s3://{bucket}/{key}: {e}"))),
        };
        if got.meta.size > max_bytes {
            return Err(FetchError::Missing(format!(
                "s3://{bucket}/{key} has {} bytes, more than the {max_bytes} a node can load",
                got.meta.size
            )));
        }
        let io = |e: std::io::Error| FetchError::Other(format!("writing {}: {e}", dest.display()));
        if let Some(parent) = dest.parent() {
            tokio::fs::create_dir_all(parent).await.map_err(io)?;
        }
        let partial = dest.with_extension("partial");
        let mut out = tokio::fs::File::create(&partial).await.map_err(io)?;
        let mut stream = got.into_stream();
        while let Some(chunk) = stream.next().await {
            let chunk = chunk.map_err(|e| other(format!("reading s3://{bucket}/{key}: {e}")))?;
            out.write_all(&chunk).await.map_err(io)?;
        }
        out.sync_all().await.map_err(io)?;
        drop(out);
        tokio::fs::rename(&partial, dest).await.map_err(io)?;
        Ok(())
    }
}
