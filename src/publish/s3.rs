//! S3-compatible object storage through object_store. Immutable objects are written with
//! `If-None-Match: *` (create-only) and carry their SHA-256 as user metadata, Content-Type and
//! Cache-Control; the manifest is replaced with `If-Match` on the ETag it had when the publish
//! started (or `If-None-Match: *` when there was none), so two publishes cannot interleave.
//! Endpoint, region and credentials come from the usual `AWS_*` variables or the flags.

use object_store::aws::{AmazonS3, AmazonS3Builder, S3ConditionalPut};
use object_store::path::Path as ObjPath;
use object_store::{
    Attribute, Attributes, GetOptions, ObjectStore, ObjectStoreExt, PutMode, PutOptions,
    PutPayload, UpdateVersion,
};

use super::{wrote, PublishOptions, Sent, Store, Upload};
use crate::error::{Area, Error};
use crate::hashing::sha256_hex;
use crate::serve::{cache_control, content_type};

pub struct S3 {
    store: AmazonS3,
    bucket: String,
    prefix: String,
    rt: tokio::runtime::Runtime,
    /// The manifest's ETag when it was read, for the compare-and-swap.
    manifest_etag: Option<String>,
}

/// An object's content and its ETag.
type BytesAndEtag = (Vec<u8>, Option<String>);

fn err(what: &str, e: object_store::Error) -> Error {
    Error::caused(Area::Publish, format!("S3 {what}"), e)
}

impl S3 {
    /// One level of the listing under `prefix`: its folders and its objects.
    fn list_level(&self, prefix: &str) -> Result<object_store::ListResult, Error> {
        let p = self.key(prefix);
        self.rt
            .block_on(self.store.list_with_delimiter(Some(&p)))
            .map_err(|e| err(&format!("LIST {prefix}"), e))
    }

    pub fn open(rest: &str, opts: &PublishOptions) -> Result<S3, Error> {
        let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
        if bucket.is_empty() {
            return Err(Error::of(
                Area::Publish,
                "--to s3://BUCKET/PREFIX names no bucket",
            ));
        }
        let mut b = AmazonS3Builder::from_env()
            .with_bucket_name(bucket)
            .with_conditional_put(S3ConditionalPut::ETagMatch);
        let endpoint = opts
            .s3_endpoint
            .clone()
            .or_else(|| std::env::var("AWS_ENDPOINT_URL").ok())
            .or_else(|| std::env::var("AWS_ENDPOINT").ok());
        if let Some(e) = &endpoint {
            b = b
                .with_endpoint(e)
                .with_allow_http(e.starts_with("http://"))
                .with_virtual_hosted_style_request(false);
        }
        let region = opts
            .s3_region
            .clone()
            .or_else(|| std::env::var("AWS_REGION").ok())
            .or_else(|| std::env::var("AWS_DEFAULT_REGION").ok())
            .unwrap_or_else(|| "us-east-1".to_string());
        b = b.with_region(region);
        let store = b.build().map_err(|e| err("configuration", e))?;
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| Error::caused(Area::Publish, "a runtime for S3", e))?;
        Ok(S3 {
            store,
            bucket: bucket.to_string(),
            prefix: prefix.trim_matches('/').to_string(),
            rt,
            manifest_etag: None,
        })
    }

    fn key(&self, path: &str) -> ObjPath {
        let full = if self.prefix.is_empty() {
            path.trim_end_matches('/').to_string()
        } else {
            format!("{}/{}", self.prefix, path.trim_end_matches('/'))
        };
        ObjPath::from(full)
    }

    fn attributes(path: &str, sha256: Option<&str>) -> Attributes {
        let mut a = Attributes::new();
        a.insert(Attribute::ContentType, content_type(path).into());
        a.insert(Attribute::CacheControl, cache_control(path).into());
        if let Some(s) = sha256 {
            a.insert(Attribute::Metadata("sha256".into()), s.to_string().into());
        }
        a
    }

    /// Size and recorded SHA-256 of an object, or None.
    fn head(&self, path: &str) -> Result<Option<(u64, Option<String>)>, Error> {
        let key = self.key(path);
        let r = self.rt.block_on(self.store.get_opts(
            &key,
            GetOptions {
                head: true,
                ..Default::default()
            },
        ));
        match r {
            Ok(g) => Ok(Some((
                g.meta.size,
                g.attributes
                    .get(&Attribute::Metadata("sha256".into()))
                    .map(|v| v.to_string()),
            ))),
            Err(object_store::Error::NotFound { .. }) => Ok(None),
            Err(e) => Err(err(&format!("HEAD {path}"), e)),
        }
    }

    /// An object's bytes and ETag, or None.
    fn get_with_etag(&self, path: &str) -> Result<Option<BytesAndEtag>, Error> {
        let key = self.key(path);
        let r = self.rt.block_on(async {
            let g = self.store.get(&key).await?;
            let etag = g.meta.e_tag.clone();
            // Its size first: one larger than publish ever writes is not downloaded.
            if g.meta.size > super::MAX_GET {
                return Ok(None);
            }
            Ok::<_, object_store::Error>(Some((g.bytes().await?, etag)))
        });
        match r {
            Ok(Some((b, etag))) if b.len() as u64 <= super::MAX_GET => Ok(Some((b.to_vec(), etag))),
            Ok(_) => Err(super::too_large(&self.describe(), path)),
            Err(object_store::Error::NotFound { .. }) => Ok(None),
            Err(e) => Err(err(&format!("GET {path}"), e)),
        }
    }

    fn get_bytes(&self, path: &str) -> Result<Option<Vec<u8>>, Error> {
        Ok(self.get_with_etag(path)?.map(|(b, _)| b))
    }

    /// Every key under a folder (relative to the store's root prefix).
    fn keys(&self, prefix: &str) -> Result<Vec<ObjPath>, Error> {
        let mut out = Vec::new();
        let mut todo = vec![self.key(prefix)];
        while let Some(p) = todo.pop() {
            let r = self
                .rt
                .block_on(self.store.list_with_delimiter(Some(&p)))
                .map_err(|e| err(&format!("LIST {prefix}"), e))?;
            out.extend(r.objects.into_iter().map(|o| o.location));
            todo.extend(r.common_prefixes);
        }
        Ok(out)
    }
}

impl Store for S3 {
    fn describe(&self) -> String {
        format!("s3://{}/{}", self.bucket, self.prefix)
    }

    fn upload_new(&mut self, files: &[Upload]) -> Result<Sent, Error> {
        let mut sent = Sent::default();
        for f in files {
            let mut mode = PutMode::Create;
            if let Some((size, sha)) = self.head(&f.path)? {
                if size == f.size && sha.as_deref() == Some(f.sha256.as_str()) {
                    sent.skipped += 1;
                    continue;
                }
                // Without a recorded digest (written by another tool, or a server that stores
                // metadata after the object and was interrupted between the two), the content
                // decides: the same bytes are written again with their metadata.
                let same = sha.is_none()
                    && size == f.size
                    && self
                        .get_bytes(&f.path)?
                        .is_some_and(|b| sha256_hex(&b) == f.sha256);
                if !same {
                    return Err(Error::of(Area::Publish, format!(
                        "{}: {} exists with other content; an immutable object is never overwritten",
                        self.describe(),
                        f.path
                    )));
                }
                mode = PutMode::Overwrite;
            }
            let bytes = std::fs::read(&f.local).map_err(|e| Error::io(&f.local, e))?;
            let key = self.key(&f.path);
            let r = self.rt.block_on(self.store.put_opts(
                &key,
                PutPayload::from(bytes),
                PutOptions {
                    mode,
                    attributes: Self::attributes(&f.path, Some(&f.sha256)),
                    ..Default::default()
                },
            ));
            match r {
                Ok(_) => {
                    wrote();
                    sent.files += 1;
                    sent.bytes += f.size;
                }
                // Another publish wrote it meanwhile: the check below decides.
                Err(object_store::Error::AlreadyExists { .. }) => sent.skipped += 1,
                Err(e) => return Err(err(&format!("PUT {}", f.path), e)),
            }
        }
        Ok(sent)
    }

    fn check(&mut self, files: &[Upload]) -> Result<Vec<String>, Error> {
        let mut problems = Vec::new();
        for f in files {
            match self.head(&f.path)? {
                Some((size, Some(sha))) if size == f.size && sha == f.sha256 => {}
                Some((size, sha)) => problems.push(format!(
                    "{}: {size} bytes, SHA-256 {} (expected {} bytes, {})",
                    f.path,
                    sha.unwrap_or_else(|| "unrecorded".into()),
                    f.size,
                    f.sha256
                )),
                None => problems.push(format!("{}: missing", f.path)),
            }
        }
        Ok(problems)
    }

    fn get(&mut self, path: &str) -> Result<Option<Vec<u8>>, Error> {
        Ok(self.get_with_etag(path)?.map(|(b, etag)| {
            if path == "manifest.json" {
                self.manifest_etag = etag;
            }
            b
        }))
    }

    fn put(&mut self, path: &str, bytes: &[u8]) -> Result<(), Error> {
        let key = self.key(path);
        self.rt
            .block_on(self.store.put_opts(
                &key,
                PutPayload::from(bytes.to_vec()),
                PutOptions {
                    attributes: Self::attributes(path, None),
                    ..Default::default()
                },
            ))
            .map_err(|e| err(&format!("PUT {path}"), e))?;
        wrote();
        Ok(())
    }

    fn swap_manifest(&mut self, bytes: &[u8], expected: Option<&[u8]>) -> Result<(), Error> {
        let mode = match (expected, &self.manifest_etag) {
            (None, _) => PutMode::Create,
            (Some(_), Some(etag)) => PutMode::Update(UpdateVersion {
                e_tag: Some(etag.clone()),
                version: None,
            }),
            (Some(_), None) => {
                return Err(Error::of(
                    Area::Publish,
                    "S3: the live manifest has no ETag to compare against",
                ))
            }
        };
        let key = self.key("manifest.json");
        let r = self.rt.block_on(self.store.put_opts(
            &key,
            PutPayload::from(bytes.to_vec()),
            PutOptions {
                mode,
                attributes: Self::attributes("manifest.json", None),
                ..Default::default()
            },
        ));
        match r {
            Ok(_) => {
                wrote();
                Ok(())
            }
            Err(object_store::Error::Precondition { .. } | object_store::Error::AlreadyExists { .. }) => {
                Err(Error::of(Area::Publish, format!(
                    "{}: manifest.json changed while publishing (another publish?); nothing was switched over it, run the publish again",
                    self.describe()
                )))
            }
            Err(e) => Err(err("PUT manifest.json", e)),
        }
    }

    fn list_dirs(&mut self, prefix: &str) -> Result<Vec<String>, Error> {
        let r = self.list_level(prefix)?;
        Ok(visible(
            r.common_prefixes.iter().filter_map(|c| c.filename()),
        ))
    }

    fn list_files(&mut self, prefix: &str) -> Result<Vec<String>, Error> {
        let r = self.list_level(prefix)?;
        Ok(visible(
            r.objects.iter().filter_map(|o| o.location.filename()),
        ))
    }

    fn count(&mut self, prefix: &str) -> Result<usize, Error> {
        Ok(self.keys(prefix)?.len())
    }

    fn remove_dir(&mut self, prefix: &str) -> Result<usize, Error> {
        let keys = self.keys(prefix)?;
        for k in &keys {
            self.rt
                .block_on(self.store.delete(k))
                .map_err(|e| err(&format!("DELETE {k}"), e))?;
            wrote();
        }
        Ok(keys.len())
    }

    fn remove(&mut self, path: &str) -> Result<(), Error> {
        let key = self.key(path);
        match self.rt.block_on(self.store.delete(&key)) {
            Ok(()) | Err(object_store::Error::NotFound { .. }) => {
                wrote();
                Ok(())
            }
            Err(e) => Err(err(&format!("DELETE {path}"), e)),
        }
    }
}

/// Names not hidden (dot-names are the publisher's own), sorted.
fn visible<'a>(names: impl Iterator<Item = &'a str>) -> Vec<String> {
    let mut out: Vec<String> = names
        .filter(|n| !n.starts_with('.'))
        .map(str::to_string)
        .collect();
    out.sort();
    out
}
