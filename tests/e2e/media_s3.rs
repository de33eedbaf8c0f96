//! Uploads kept in an S3-compatible bucket (moto's S3 server here), as several
//! nodes would share them: served exactly as from the local directory, really
//! in the bucket and nowhere on the node's disk; and when the store goes away,
//! uploads fail clearly with nothing half-kept, and fetches answer 503.

use std::time::{Duration, Instant};

use crate::media::{png, upload};
use crate::on_both_backends;
use crate::support::moto::Moto;
use crate::support::session::{signed_up, sql_text};
use crate::support::{Server, first_code};

const SECRET: &str = "moto-secret-never-logged";

on_both_backends! {
    async fn uploads_go_to_the_bucket_and_fail_clearly_without_it(db: TestDb) {
        let mut moto = Moto::start().await;
        let bucket = format!("shiji-{}", uuid::Uuid::new_v4().simple());
        moto.create_bucket(&bucket).await;
        let server = Server::start(&db, &[
            ("SHIJI_MEDIA_STORE", "s3"),
            ("SHIJI_MEDIA_S3_BUCKET", &bucket),
            ("SHIJI_MEDIA_S3_ENDPOINT", &moto.endpoint),
            ("SHIJI_MEDIA_S3_PREFIX", "shiji/media"),
            ("SHIJI_MEDIA_S3_ACCESS_KEY_ID", "moto"),
            ("SHIJI_MEDIA_S3_SECRET_ACCESS_KEY", SECRET),
        ]).await;
        let (_, token) = signed_up(&server, &db, "farmer@shiji.example").await;

        let photo = png(64, 48);
        let (_, body) = upload(&server, Some(&token), "IMAGE", "小龙虾.png", photo.clone()).await;
        let media = &body["data"]["uploadMedia"]["media"];
        assert_eq!(media["contentType"], "image/png", "{body}\n{}", server.logs());
        assert_eq!((media["width"].as_i64(), media["height"].as_i64()), (Some(64), Some(48)));
        let id = media["id"].as_str().unwrap().to_string();

        // Served as from the local store: same bytes, type and cache headers.
        let url = media["url"].as_str().unwrap().to_string();
        let response = server.http.get(server.url(&url)).send().await.unwrap();
        assert_eq!(response.status().as_u16(), 200);
        let headers = response.headers().clone();
        assert_eq!(headers["content-type"], "image/png");
        assert_eq!(headers["cache-control"], "public, max-age=31536000, immutable");
        assert_eq!(headers["x-content-type-options"], "nosniff");
        let etag = headers["etag"].to_str().unwrap().to_string();
        assert_eq!(response.bytes().await.unwrap().to_vec(), photo);
        let again = server.http.get(server.url(&url)).header("if-none-match", &etag).send().await.unwrap();
        assert_eq!(again.status().as_u16(), 304);

        // Really in the bucket, under the prefix, and nothing on the node's disk.
        let key = format!("shiji/media/{}/{id}", &id[id.len() - 2..]);
        assert_eq!(moto.keys(&bucket).await, vec![key.clone()]);
        assert_eq!(moto.object(&bucket, &key).await.as_deref(), Some(photo.as_slice()));
        assert!(!db.data_dir.path().join("media").exists(), "a local media directory was made");
        assert!(!server.logs().contains(SECRET), "the secret key was logged");

        // The store goes away: a clear error, no row, and the server stays up.
        moto.stop();
        let started = Instant::now();
        let (_, body) = upload(&server, Some(&token), "IMAGE", "second.png", png(8, 8)).await;
        assert_eq!(first_code(&body), "MEDIA_STORE_UNAVAILABLE", "{body}");
        assert!(body["errors"][0]["message"].as_str().unwrap().contains("try again"), "{body}");
        assert_eq!(body["data"]["uploadMedia"], serde_json::Value::Null, "{body}");
        // Retries are bounded well inside the request timeout.
        assert!(started.elapsed() < Duration::from_secs(25), "{:?}", started.elapsed());
        let rows = sql_text(&db, "SELECT CAST(COUNT(*) AS TEXT) FROM media WHERE kind = $1", "image").await;
        assert_eq!(rows.as_deref(), Some("1"));
        let response = server.http.get(server.url(&url)).send().await.unwrap();
        assert_eq!(response.status().as_u16(), 503);
        let health = server.http.get(server.url("/healthz")).send().await.unwrap();
        assert_eq!(health.status().as_u16(), 200);
        assert!(!server.logs().contains(SECRET), "the secret key was logged");
    }
}
