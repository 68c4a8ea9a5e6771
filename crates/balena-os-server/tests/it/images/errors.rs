//! `/device-types/v1…`, download sizes and `/download`: lookups (slug or
//! alias, `latest`, version forms, image types), visibility, and every
//! error answer as a JSON message.

use serde_json::{Value, json};

use super::util::{Got, app_id, builds, get, images_dir, mtype};
use crate::common::{Backend, TestServer};

/// `VERSION` of the os-release file in an image's boot partition.
fn os_release_version(img: &[u8]) -> String {
    let text = String::from_utf8(mtype(img, "os-release")).expect("os-release is text");
    text.lines()
        .find_map(|l| l.strip_prefix("VERSION="))
        .map(|v| v.trim_matches('"').to_owned())
        .unwrap_or_else(|| panic!("no VERSION in {text}"))
}

/// `VARIANT_ID` of the os-release file in an image's boot partition
/// (`None` in a unified image, which has no VARIANT lines).
fn os_release_variant(img: &[u8]) -> Option<String> {
    let text = String::from_utf8(mtype(img, "os-release")).expect("os-release is text");
    text.lines()
        .find_map(|l| l.strip_prefix("VARIANT_ID="))
        .map(|v| v.trim_matches('"').to_owned())
}

fn err(got: &Got) -> (u16, String) {
    (got.status, got.message())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn device_types_sizes_and_download_errors() {
    let server = TestServer::start(Backend::Sqlite, true).await;
    let key = server.demo_key.clone().expect("demo key");
    let admin = server.admin_key.clone().expect("admin key");

    // device-type.json of every visible device type, by slug or alias.
    let all = get(&server, "/device-types/v1", None).await;
    assert_eq!(all.status, 200);
    let list = all.json();
    let slugs: Vec<&str> = list
        .as_array()
        .expect("array")
        .iter()
        .filter_map(|d| d["slug"].as_str())
        .collect();
    assert!(slugs.windows(2).all(|w| w[0] < w[1]), "sorted by slug");
    assert!(slugs.contains(&"raspberrypi3") && slugs.contains(&"intel-nuc"));
    assert!(
        !slugs.contains(&"imx8mm-lpddr4-evk"),
        "private device types are hidden"
    );
    let with_admin = get(&server, "/device-types/v1", Some(&admin)).await.json();
    assert_eq!(with_admin.as_array().map(Vec::len), Some(slugs.len() + 1));
    let nuc = get(&server, "/device-types/v1/nuc", None).await;
    assert_eq!(nuc.status, 200);
    let nuc = nuc.json();
    assert_eq!(nuc["slug"], "intel-nuc");
    assert_eq!(nuc["aliases"], json!(["nuc"]));
    assert_eq!(
        nuc["configuration"]["config"]["partition"],
        json!({"primary": 1})
    );
    assert_eq!(nuc["options"][0]["name"], "network");
    assert_eq!(
        err(&get(&server, "/device-types/v1/no-such-dt", None).await),
        (404, "Unknown device type no-such-dt".to_owned())
    );
    assert_eq!(
        err(&get(&server, "/device-types/v1/bad%20name", None).await),
        (400, "Invalid device type".to_owned())
    );
    assert_eq!(
        get(&server, "/device-types/v1/imx8mm-lpddr4-evk", None)
            .await
            .status,
        404
    );
    assert_eq!(
        get(&server, "/device-types/v1/imx8mm-lpddr4-evk", Some(&admin))
            .await
            .status,
        200
    );

    // Sizes: alias and latest resolution; 404 for unknown versions.
    let size = get(
        &server,
        "/device-types/v1/nuc/images/latest/download-size",
        None,
    )
    .await;
    assert_eq!(size.status, 200, "{}", String::from_utf8_lossy(&size.body));
    assert!(size.json()["size"].as_u64().is_some_and(|s| s > 1000));
    let build = builds(&images_dir(&server), "intel-nuc")
        .pop()
        .expect("build");
    // Once an image exists, the stored device-type.json carries its buildId.
    let stored = get(&server, "/device-types/v1/intel-nuc", None)
        .await
        .json();
    assert_eq!(stored["buildId"], json!(build));
    assert_eq!(
        err(&get(
            &server,
            "/device-types/v1/raspberrypi3/images/9.9.9/download-size",
            None
        )
        .await),
        (
            404,
            "Device raspberrypi3 not found for 9.9.9 version".to_owned()
        )
    );
    assert_eq!(
        err(&get(
            &server,
            "/device-types/v1/raspberrypi3/images/not-a-version/download-size",
            None
        )
        .await),
        (
            404,
            "Device raspberrypi3 not found for not-a-version version".to_owned()
        )
    );
    assert_eq!(
        err(&get(
            &server,
            "/device-types/v1/no-such-dt/images/latest/download-size",
            None
        )
        .await),
        (404, "Unknown device type no-such-dt".to_owned())
    );

    // /download errors.
    let dl = |q: &str| format!("/download?{q}");
    assert_eq!(
        err(&get(&server, &dl("deviceType=no-such-dt&version=latest"), None).await),
        (404, "Unknown device type no-such-dt".to_owned())
    );
    assert_eq!(
        err(&get(&server, &dl("deviceType=raspberrypi3&version=9.9.9"), None).await),
        (
            404,
            "No image found for device type raspberrypi3 and version 9.9.9".to_owned()
        )
    );
    assert_eq!(
        err(&get(
            &server,
            &dl("deviceType=raspberrypi3&version=latest&imageType=flasher"),
            None
        )
        .await),
        (
            404,
            "No image found for device type raspberrypi3, version latest, and image type flasher"
                .to_owned()
        )
    );
    assert_eq!(
        get(
            &server,
            &dl("deviceType=raspberrypi3&version=latest&fileType=.tar"),
            None
        )
        .await
        .status,
        400
    );
    assert_eq!(
        get(
            &server,
            &dl("deviceType=raspberrypi3&version=latest&imageType=installer"),
            None
        )
        .await
        .status,
        400
    );
    assert_eq!(
        get(&server, &dl("version=latest"), None).await.status,
        400,
        "deviceType is required"
    );
    assert_eq!(
        get(
            &server,
            &dl("deviceType=raspberrypi3&version=latest&appId=abc"),
            None
        )
        .await
        .status,
        400
    );
    let bad_wifi = get(
        &server,
        &dl("deviceType=raspberrypi3&version=latest&network=wifi&wifiSsid=x&wifiKey=short"),
        None,
    )
    .await;
    assert_eq!(bad_wifi.status, 400, "WPA keys are 8 to 63 characters");
    assert!(
        bad_wifi.message().contains("wifiKey"),
        "{}",
        bad_wifi.message()
    );
    let kiosk = app_id(&server, "demo/kiosk-rpi3", &key).await;
    let secret = app_id(&server, "acme/secret-fleet", &admin).await;
    assert_eq!(
        get(
            &server,
            &dl(&format!(
                "deviceType=raspberrypi3&version=latest&appId={kiosk}"
            )),
            None
        )
        .await
        .status,
        401,
        "a fleet config needs a user"
    );
    assert_eq!(
        get(
            &server,
            &dl(&format!(
                "deviceType=raspberrypi4-64&version=latest&appId={secret}"
            )),
            Some(&key)
        )
        .await
        .status,
        404,
        "another organisation's fleet"
    );
    assert_eq!(
        get(
            &server,
            &dl("deviceType=imx8mm-lpddr4-evk&version=latest"),
            None
        )
        .await
        .status,
        404,
        "private device type"
    );
    assert_eq!(
        get(
            &server,
            "/download?deviceType=raspberrypi3&version=latest",
            Some("not-a-key")
        )
        .await
        .status,
        401
    );

    // Image types: generic-amd64's default image is a flasher, with a raw
    // image beside it.
    let flasher = get(
        &server,
        &dl("deviceType=generic-amd64&version=latest&imageType=flasher&fileType=.zip"),
        None,
    )
    .await;
    assert_eq!(flasher.status, 200);
    let default = get(
        &server,
        &dl("deviceType=generic-amd64&version=latest&fileType=.zip"),
        None,
    )
    .await;
    assert!(
        default.body == flasher.body,
        "the default image is the flasher"
    );
    let raw = get(
        &server,
        &dl("deviceType=generic-amd64&version=latest&imageType=raw"),
        None,
    )
    .await;
    assert_eq!(raw.status, 200);
    let label = |img: &[u8]| {
        let boot = balena_image::find_boot_partition(img, None).expect("boot");
        format!("{:?}", boot.found_by)
    };
    assert!(
        label(&raw.body).contains("resin-boot"),
        "{}",
        label(&raw.body)
    );
    let flasher_img = super::util::unzip(&flasher.body).0;
    assert!(
        label(&flasher_img).contains("flash-boot"),
        "{}",
        label(&flasher_img)
    );
    // takeover's form: POST with a JSON body.
    let posted = super::util::send(
        &server,
        reqwest::Method::POST,
        "/download",
        None,
        &[],
        Some(&json!({"deviceType": "generic-amd64", "version": "latest", "fileType": ".gz", "imageType": "raw"})),
    )
    .await;
    assert_eq!(posted.status, 200);
    assert!(super::util::gunzip(&posted.body) == raw.body);
    let raw_size = get(
        &server,
        &dl("deviceType=intel-nuc&version=latest&imageType=raw"),
        None,
    )
    .await;
    assert_eq!(raw_size.status, 404, "intel-nuc has no raw image");

    // Version forms: a leading v, and .dev on a unified release meaning
    // development mode. The newest final release is a unified one.
    let (_, newest) = server
        .get(
            "/v7/release?$select=raw_version,variant&$filter=belongs_to__application/any(a:a/slug%20eq%20%27balena_os%2Fraspberrypi3%27)%20and%20is_final%20eq%20true%20and%20is_invalidated%20eq%20false%20and%20status%20eq%20%27success%27&$orderby=created_at%20desc&$top=1",
            None,
        )
        .await;
    let release = newest["d"][0].clone();
    let build = release["raw_version"]
        .as_str()
        .expect("raw_version")
        .to_owned();
    assert_eq!(release["variant"], "", "a unified release: {release}");
    assert!(!build.contains('-'), "a final release: {build}");
    let v = get(
        &server,
        &dl(&format!(
            "deviceType=raspberrypi3&version=v{}",
            build.replace('+', "%2B")
        )),
        None,
    )
    .await;
    assert_eq!(v.status, 200);
    assert_eq!(os_release_version(&v.body), build);
    assert_eq!(os_release_variant(&v.body), None, "a unified image");
    let dev = get(
        &server,
        &dl(&format!(
            "deviceType=raspberrypi3&version={}.dev",
            build.replace('+', "%2B")
        )),
        None,
    )
    .await;
    assert_eq!(dev.status, 200);
    let cfg: Value = serde_json::from_slice(&mtype(&dev.body, "config.json")).expect("json");
    assert_eq!(cfg["developmentMode"], true, "{cfg}");
    assert_eq!(
        dev.header("content-disposition"),
        Some(format!("attachment; filename=\"balena-raspberrypi3-{build}-dev.img\"").as_str())
    );
    assert_eq!(os_release_version(&dev.body), build);
    // The same unified image: development mode is its config.json switch.
    assert_eq!(os_release_variant(&dev.body), None, "a unified image");
    server.stop().await;
}

/// An older release built as separate `.prod` and `.dev` images (before
/// balenaOS unified them): asked with either suffix or none, through the
/// demo's on-demand generation of a release that is not the newest.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn older_release_with_prod_and_dev_builds() {
    let server = TestServer::start(Backend::Sqlite, true).await;
    let (_, variants) = server
        .get(
            "/v7/release?$select=raw_version,semver,variant&$filter=belongs_to__application/any(a:a/slug%20eq%20%27balena_os%2Fraspberrypi3%27)%20and%20variant%20ne%20%27%27%20and%20is_final%20eq%20true&$orderby=created_at%20desc",
            None,
        )
        .await;
    let rows = variants["d"].as_array().expect("rows");
    let prod = rows
        .iter()
        .find(|r| r["variant"] == "prod")
        .expect("a .prod release of raspberrypi3 in the demo catalog");
    let semver = prod["semver"].as_str().expect("semver").to_owned();
    assert!(
        rows.iter()
            .any(|r| r["variant"] == "dev" && r["semver"] == semver.as_str()),
        "{semver} has a .dev build too"
    );
    assert!(semver.starts_with("2."), "an older release: {semver}");
    let latest = get(
        &server,
        "/device-types/v1/raspberrypi3/images/latest/download-size",
        None,
    )
    .await;
    assert_eq!(latest.status, 200);

    let url = |version: &str| {
        format!(
            "/download?deviceType=raspberrypi3&version={}",
            version.replace('+', "%2B")
        )
    };
    let with_prod = get(&server, &url(&format!("{semver}.prod")), None).await;
    let bare = get(&server, &url(&semver), None).await;
    let with_dev = get(&server, &url(&format!("{semver}.dev")), None).await;
    for (what, got, name) in [
        (
            ".prod",
            &with_prod,
            format!("balena-raspberrypi3-{semver}.img"),
        ),
        (
            "no suffix",
            &bare,
            format!("balena-raspberrypi3-{semver}.img"),
        ),
        (
            ".dev",
            &with_dev,
            format!("balena-raspberrypi3-{semver}-dev.img"),
        ),
    ] {
        assert_eq!(
            got.status,
            200,
            "{what}: {}",
            String::from_utf8_lossy(&got.body[..got.body.len().min(200)])
        );
        assert_eq!(
            got.header("content-disposition"),
            Some(format!("attachment; filename=\"{name}\"").as_str()),
            "{what}"
        );
        assert_eq!(os_release_version(&got.body), semver, "{what}");
        // A variant build is what it is: its os-release names the variant
        // and the stock config.json of a development build turns
        // development mode on (image-server.md §2.1); nothing is injected.
        let dev = what == ".dev";
        assert_eq!(
            os_release_variant(&got.body).as_deref(),
            Some(if dev { "dev" } else { "prod" }),
            "{what}"
        );
        let cfg: Value = serde_json::from_slice(&mtype(&got.body, "config.json")).expect("json");
        assert_eq!(
            cfg,
            if dev {
                json!({"deviceType": "raspberrypi3", "persistentLogging": false, "developmentMode": true})
            } else {
                json!({"deviceType": "raspberrypi3", "persistentLogging": false})
            },
            "{what}"
        );
    }
    // Without a suffix the .prod build is chosen; .dev is another build.
    assert_eq!(bare.header("etag"), with_prod.header("etag"));
    assert_ne!(with_dev.header("etag"), with_prod.header("etag"));
    // Development mode asked of a variant build is written into config.json.
    let dev_mode = get(
        &server,
        &format!("{}&developmentMode=true", url(&format!("{semver}.prod"))),
        None,
    )
    .await;
    assert_eq!(dev_mode.status, 200);
    let cfg: Value = serde_json::from_slice(&mtype(&dev_mode.body, "config.json")).expect("json");
    assert_eq!(cfg["developmentMode"], true, "{cfg}");
    assert_eq!(os_release_variant(&dev_mode.body).as_deref(), Some("prod"));
    // And turned off on a development build: the os-release stays dev.
    let prod_mode = get(
        &server,
        &format!("{}&developmentMode=false", url(&format!("{semver}.dev"))),
        None,
    )
    .await;
    assert_eq!(prod_mode.status, 200);
    let cfg: Value = serde_json::from_slice(&mtype(&prod_mode.body, "config.json")).expect("json");
    assert!(cfg.get("developmentMode").is_none(), "{cfg}");
    assert_eq!(os_release_variant(&prod_mode.body).as_deref(), Some("dev"));
    server.stop().await;
}
