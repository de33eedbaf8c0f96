//! Uploads as a frontend sends them (GraphQL multipart requests) and files as
//! browsers fetch them: types checked from content, sizes limited, images
//! measured, public files cacheable, private documents kept private.

use serde_json::{Value, json};

use crate::on_both_backends;
use crate::support::session::signed_up;
use crate::support::{Server, first_code};

const UPLOAD: &str = "mutation($file: Upload!, $kind: MediaKind!) { uploadMedia(file: $file, kind: $kind) { media { id url kind contentType sizeBytes width height fileName sha256 } userErrors { code field message } } }";

/// A real PNG of `width` × `height` pixels.
pub(crate) fn png(width: u32, height: u32) -> Vec<u8> {
    let mut bytes = Vec::new();
    {
        let mut encoder = png::Encoder::new(&mut bytes, width, height);
        encoder.set_color(png::ColorType::Rgb);
        encoder.set_depth(png::BitDepth::Eight);
        let mut writer = encoder.write_header().expect("png header");
        let data: Vec<u8> = (0..width * height * 3)
            .map(|i| (i * 37 % 251) as u8)
            .collect();
        writer.write_image_data(&data).expect("png data");
    }
    bytes
}

const PDF: &[u8] =
    b"%PDF-1.4\n1 0 obj << /Type /Catalog >> endobj\ntrailer << /Root 1 0 R >>\n%%EOF\n";

pub(crate) async fn upload(
    server: &Server,
    token: Option<&str>,
    kind: &str,
    name: &str,
    bytes: Vec<u8>,
) -> (u16, Value) {
    let operations = json!({ "query": UPLOAD, "variables": { "file": null, "kind": kind } });
    let form = reqwest::multipart::Form::new()
        .text("operations", operations.to_string())
        .text("map", json!({ "0": ["variables.file"] }).to_string())
        // The claimed type is a lie on purpose: the engine looks at the bytes.
        .part(
            "0",
            reqwest::multipart::Part::bytes(bytes)
                .file_name(name.to_string())
                .mime_str("image/png")
                .unwrap(),
        );
    let mut request = server
        .http
        .post(server.url("/graphql"))
        .header("accept", "application/graphql-response+json")
        .multipart(form);
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    let response = request.send().await.expect("request");
    let status = response.status().as_u16();
    let body = response.json().await.unwrap_or(Value::Null);
    (status, body)
}

fn codes(body: &Value) -> Vec<String> {
    body["data"]["uploadMedia"]["userErrors"]
        .as_array()
        .map(|e| {
            e.iter()
                .map(|e| e["code"].as_str().unwrap_or_default().to_string())
                .collect()
        })
        .unwrap_or_default()
}

on_both_backends! {
    async fn uploads_are_checked_measured_and_served(db: TestDb) {
        let server = Server::start(&db, &[("SHIJI_MEDIA_IMAGE_MAX_BYTES", "20000"), ("SHIJI_SERVER_UPLOAD_LIMIT_BYTES", "60000")]).await;
        let (_, token) = signed_up(&server, &db, "farmer@shiji.example").await;

        // An image: measured from its header, served back byte for byte.
        let photo = png(64, 48);
        let (_, body) = upload(&server, Some(&token), "IMAGE", "小龙虾.png", photo.clone()).await;
        let media = &body["data"]["uploadMedia"]["media"];
        assert_eq!(media["contentType"], "image/png", "{body}");
        assert_eq!((media["width"].as_i64(), media["height"].as_i64()), (Some(64), Some(48)));
        assert_eq!(media["fileName"], "小龙虾.png");
        assert_eq!(media["kind"], "IMAGE");
        let url = media["url"].as_str().unwrap().to_string();
        let response = server.http.get(server.url(&url)).send().await.unwrap();
        assert_eq!(response.status().as_u16(), 200);
        let headers = response.headers().clone();
        assert_eq!(headers["content-type"], "image/png");
        assert!(headers["cache-control"].to_str().unwrap().contains("immutable"));
        assert_eq!(headers["x-content-type-options"], "nosniff");
        let etag = headers["etag"].to_str().unwrap().to_string();
        assert_eq!(response.bytes().await.unwrap().to_vec(), photo);
        let again = server.http.get(server.url(&url)).header("if-none-match", &etag).send().await.unwrap();
        assert_eq!(again.status().as_u16(), 304);
        let (_, body) = server.graphql(&format!("{{ media(id: \"{}\") {{ sizeBytes }} }}", media["id"].as_str().unwrap()), json!({})).await;
        assert_eq!(body["data"]["media"]["sizeBytes"], photo.len());

        // The wrong type, whatever the client claims, and anything too large, are refused.
        let (_, body) = upload(&server, Some(&token), "IMAGE", "photo.png", b"<script>alert(1)</script>".to_vec()).await;
        assert_eq!(codes(&body), ["FILE_TYPE_NOT_ALLOWED"], "{body}");
        let (_, body) = upload(&server, Some(&token), "IMAGE", "licence.pdf", PDF.to_vec()).await;
        assert_eq!(codes(&body), ["FILE_TYPE_NOT_ALLOWED"], "{body}");
        let (_, body) = upload(&server, Some(&token), "IMAGE", "huge.png", [png(4, 4), vec![0; 30_000]].concat()).await;
        assert_eq!(codes(&body), ["FILE_TOO_LARGE"], "{body}");
        let (status, body) = upload(&server, Some(&token), "DOCUMENT", "huge.pdf", [PDF, &vec![b' '; 70_000]].concat()).await;
        assert_eq!(status, 413, "{body}");
        assert_eq!(first_code(&body), "PAYLOAD_TOO_LARGE");
        let (_, body) = upload(&server, None, "IMAGE", "photo.png", png(4, 4)).await;
        assert_eq!(first_code(&body), "UNAUTHENTICATED", "{body}");

        // A private document: its uploader may fetch it; nobody else learns it exists.
        let (_, body) = upload(&server, Some(&token), "PRIVATE_DOCUMENT", "合同.pdf", PDF.to_vec()).await;
        let agreement = &body["data"]["uploadMedia"]["media"];
        assert_eq!(agreement["contentType"], "application/pdf", "{body}");
        assert_eq!(agreement["width"], Value::Null);
        let url = agreement["url"].as_str().unwrap().to_string();
        let mine = server.http.get(server.url(&url)).bearer_auth(&token).send().await.unwrap();
        assert_eq!(mine.status().as_u16(), 200);
        assert!(mine.headers()["cache-control"].to_str().unwrap().contains("no-store"));
        assert_eq!(mine.bytes().await.unwrap().as_ref(), PDF);
        let anonymous = server.http.get(server.url(&url)).send().await.unwrap();
        assert_eq!(anonymous.status().as_u16(), 404);
        let (_, other) = signed_up(&server, &db, "neighbour@shiji.example").await;
        let theirs = server.http.get(server.url(&url)).bearer_auth(&other).send().await.unwrap();
        assert_eq!(theirs.status().as_u16(), 404);
        let (_, body) = server.graphql_as(&other, &format!("{{ media(id: \"{}\") {{ id }} }}", agreement["id"].as_str().unwrap()), json!({})).await;
        assert_eq!(body["data"]["media"], Value::Null, "{body}");
    }
}
