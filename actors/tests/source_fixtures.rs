//! Every shipped recording (`data/sources/`, and the error feed in `tests/fixtures/sources/`)
//! parsed by its source's parser, with its counts and key fields asserted.

use std::path::PathBuf;

use stratagem_actors::sources::{
    arxiv, defillama, edgar, manual, network, reddit, twitter, Item, ParseError,
};

fn recording(rel: &str) -> Vec<u8> {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("..")
        .join(rel);
    std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn field<'a>(item: &'a Item, name: &str) -> &'a str {
    item.field(name).unwrap_or_else(|| {
        panic!(
            "{} has no field {name}: {:?}",
            item.external_id, item.fields
        )
    })
}

#[test]
fn arxiv_current_layout() {
    let page = arxiv::parse(&recording(
        "data/sources/arxiv/arxiv_api_query_all-testing_m10_2026.xml",
    ))
    .unwrap();
    assert_eq!(page.items.len(), 10);
    assert_eq!(page.total, Some(214_881));
    let first = &page.items[0];
    assert_eq!(first.external_id, "2202.12139");
    assert_eq!(
        first.title,
        "Testing Deep Learning Models: A First Comparative Study of Multiple Testing Techniques"
    );
    assert_eq!(
        first.url.as_deref(),
        Some("https://arxiv.org/abs/2202.12139v1")
    );
    assert_eq!(first.published.as_deref(), Some("2022-02-24T15:05:19Z"));
    assert_eq!(field(first, "arxiv:primary_category"), "cs.SE");
    assert_eq!(field(first, "arxiv:doi"), "10.1109/ICSTW55395.2022.00035");
    assert!(field(first, "arxiv:journal_ref")
        .starts_with("Artificial Intelligence in Software Testing @ 2022 IEEE"));
    assert_eq!(
        field(first, "arxiv:comment"),
        "Artificial Intelligence in Software Testing 2022 workshop @ ICST 2022"
    );
    assert_eq!(field(first, "categories"), "cs.SE cs.LG");
    assert_eq!(
        field(first, "authors"),
        "Mohit Kumar Ahuja, Arnaud Gotlieb, Helge Spieker"
    );
    assert!(first
        .text
        .starts_with("Deep Learning (DL) has revolutionized"));
    assert!(page
        .items
        .iter()
        .all(|i| !i.title.is_empty() && !i.text.is_empty()));
}

#[test]
fn arxiv_old_layout_with_inline_namespaces() {
    let page = arxiv::parse(&recording(
        "data/sources/arxiv/arxiv_api_query_au-del_maestro_AND_ti-checkerboard_2016.xml",
    ))
    .unwrap();
    assert_eq!(page.items.len(), 1);
    assert_eq!(
        page.total,
        Some(1),
        "opensearch:totalResults declared inline"
    );
    let item = &page.items[0];
    assert_eq!(item.external_id, "cond-mat/0603029");
    // The title is wrapped over two lines in the feed: whitespace collapses.
    assert_eq!(item.title, "From stripe to checkerboard order on the square lattice in the presence of quenched disorder");
    assert_eq!(field(item, "arxiv:primary_category"), "cond-mat.str-el");
    assert_eq!(field(item, "arxiv:doi"), "10.1103/PhysRevB.74.024520");
    assert_eq!(
        field(item, "arxiv:journal_ref"),
        "Phys. Rev. B 74, 024520 (2006)"
    );
    assert_eq!(
        field(item, "arxiv:comment"),
        "10 pages, 11 figures; added reference"
    );
    assert_eq!(
        item.url.as_deref(),
        Some("http://arxiv.org/abs/cond-mat/0603029v1")
    );
}

#[test]
fn arxiv_rss_channel() {
    let page = arxiv::parse(&recording(
        "data/sources/arxiv/arxiv_rss_cs.AI_2025-09-18_header_truncated.xml",
    ))
    .unwrap();
    assert_eq!(page.items.len(), 1);
    let item = &page.items[0];
    assert_eq!(item.external_id, "2509.13332");
    assert!(item
        .title
        .starts_with("Explicit Reasoning Makes Better Judges"));
    assert_eq!(field(item, "arxiv:announce_type"), "new");
    assert!(
        item.text
            .starts_with("As Large Language Models (LLMs) are increasingly adopted"),
        "{}",
        item.text
    );
}

#[test]
fn arxiv_error_feed_is_an_error() {
    let e = arxiv::parse(&recording(
        "tests/fixtures/sources/arxiv_api_error_incorrect_id_2026.xml",
    ))
    .unwrap_err();
    assert_eq!(
        e,
        ParseError::Service {
            service: "arXiv API",
            message: "incorrect id format for abc".into()
        }
    );
}

#[test]
fn reddit_listing() {
    let page = reddit::parse(&recording(
        "data/sources/reddit/reddit_listing_r-popular_hot_limit100_2026-04-13.json",
    ))
    .unwrap();
    assert_eq!(page.items.len(), 100);
    assert_eq!(page.next.as_deref(), Some("t3_1skbyfv"));
    let first = &page.items[0];
    assert_eq!(first.external_id, "t3_1skjxta");
    assert!(first.title.starts_with("Ulberg on Jiri showing mercy"));
    assert_eq!(field(first, "subreddit"), "MMA");
    assert_eq!(field(first, "author"), "airplane231");
    assert_eq!(field(first, "score"), "546");
    assert_eq!(first.url.as_deref(), Some("https://www.reddit.com/r/MMA/comments/1skjxta/ulberg_on_jiri_showing_mercy_thats_bullshit_total/"));
    assert_eq!(first.published.as_deref(), Some("2026-04-13T18:44:08Z"));
    assert!(page.items.iter().all(|i| i.external_id.starts_with("t3_")));
}

#[test]
fn twitter_recent_search() {
    let page = twitter::parse(&recording(
        "data/sources/twitter/twitter_v2_search_recent_query-Tweepy_2022-10-07.json",
    ))
    .unwrap();
    assert_eq!(page.items.len(), 10);
    assert_eq!(page.total, Some(10));
    assert_eq!(
        page.next.as_deref(),
        Some("b26v89c19zqg8o3fpzbn1e0ffhxjiofzw6po136rvbnul")
    );
    assert_eq!(page.items[0].external_id, "1578516068309794817");
    assert_eq!(page.items[0].text, "2022-10-07 22:42:12.637103 tweepy");
    assert_eq!(
        page.items[0].url.as_deref(),
        Some("https://x.com/i/web/status/1578516068309794817")
    );
}

#[test]
fn defillama_protocols_and_gas() {
    let page = defillama::parse(&recording(
        "data/sources/defillama/defillama_protocols_subset_from_agentkit.json",
    ))
    .unwrap();
    assert_eq!(page.items.len(), 2);
    let eigen = &page.items[0];
    assert_eq!(eigen.external_id, "eigenlayer");
    assert_eq!(eigen.title, "New DeFi protocol: EigenLayer (Restaking)");
    assert_eq!(field(eigen, "listed_at"), "1686776222");
    assert_eq!(field(eigen, "audits"), "2");
    assert_eq!(field(eigen, "tvl_usd"), "8951735130");
    assert_eq!(field(&page.items[1], "chains"), "Zircuit Ethereum");
    assert_eq!(
        page.items[1].published.as_deref(),
        Some("2024-01-29T14:15:31Z")
    );

    let gas = defillama::parse(&recording(
        "data/sources/defillama/eth_feeHistory_response.json",
    ))
    .unwrap()
    .gas
    .unwrap();
    assert_eq!((gas.oldest_block, gas.blocks), (0x1b, 1));
    // 0x3b9aca00 = 1 gwei in the window; 0x342a385a = 875,182,170 wei next.
    assert!((gas.mean_base_fee_gwei - 1.0).abs() < 1e-12);
    assert!((gas.next_base_fee_gwei - 0.875_182_17).abs() < 1e-9);
    assert!((gas.mean_gas_used_ratio - 0.000_728_68).abs() < 1e-12);
}

#[test]
fn edgar_latest_filings_atom_in_latin1() {
    let page = edgar::parse(&recording(
        "data/sources/edgar/edgar_getcurrent_atom_count40_2021-04-18.xml",
    ))
    .unwrap();
    // 40 entries, one per filer (reporting owner and issuer): 15 distinct accession numbers.
    assert_eq!(page.items.len(), 15);
    let first = &page.items[0];
    assert_eq!(first.external_id, "0001209191-21-027150");
    assert_eq!(
        first.title,
        "3/A - Brian Armstrong Living Trust (0001856705) (Reporting)"
    );
    assert_eq!(field(first, "form"), "3/A");
    assert_eq!(
        first.text,
        "Filed: 2021-04-16 AccNo: 0001209191-21-027150 Size: 18 KB"
    );
    assert!(page.items.iter().all(|i| i.external_id.len() == 20));
}

#[test]
fn edgar_full_text_search() {
    let page = edgar::parse(&recording(
        "data/sources/edgar/edgar_efts_fulltext_search_INTC_10-K_2021-04-18.json",
    ))
    .unwrap();
    // 6 hits, 5 filings: the 2020 10-K matches in its HTML and in its PDF.
    assert_eq!(page.items.len(), 5);
    assert_eq!(page.total, Some(6));
    let first = &page.items[0];
    assert_eq!(first.external_id, "0000050863-20-000011");
    assert_eq!(
        first.title,
        "10-K - INTEL CORP (INTC) (CIK 0000050863) (filed 2020-01-24)"
    );
    assert_eq!(field(first, "period_ending"), "2019-12-28");
    assert_eq!(
        first.url.as_deref(),
        Some("https://www.sec.gov/Archives/edgar/data/50863/000005086320000011/a12282019q4-10kdocument.htm")
    );
}

#[test]
fn github_releases() {
    let page = network::parse(&recording(
        "data/sources/network/github_releases_atom_hajimehoshi-oto_2021-12-27.xml",
    ))
    .unwrap();
    assert_eq!(page.items.len(), 10);
    let first = &page.items[0];
    assert_eq!(
        first.external_id,
        "tag:github.com,2008:Repository/90259571/v2.1.0-alpha.5"
    );
    assert_eq!(first.title, "hajimehoshi/oto release v2.1.0-alpha.5");
    assert_eq!(first.text, "internal/oboe: update Oboe to v1.6.1");
    assert_eq!(field(first, "repository"), "hajimehoshi/oto");
    assert_eq!(field(first, "prerelease"), "true");
    assert_eq!(
        first.url.as_deref(),
        Some("https://github.com/hajimehoshi/oto/releases/tag/v2.1.0-alpha.5")
    );
}

#[test]
fn manual_inbox_ideas() {
    let json = recording("data/sources/manual/btc_time_series_momentum.json");
    let page = manual::parse("btc_time_series_momentum.json", &json).unwrap();
    let idea = &page.items[0];
    assert_eq!(
        idea.title,
        "Time-series momentum on hourly BTC with a volatility filter"
    );
    assert_eq!(field(idea, "template"), "momentum");
    assert_eq!(field(idea, "param:lookback"), "24");
    assert_eq!(idea.external_id, manual::idea_id(&json));
    let md = recording("data/sources/manual/btc_range_mean_reversion.md");
    let page = manual::parse("btc_range_mean_reversion.md", &md).unwrap();
    assert_eq!(
        page.items[0].title,
        "Fade 2-sigma moves of BTC back to the 48-hour mean"
    );
    assert!(page.items[0].text.contains("z-score"));
    // Bad ideas are errors naming the file.
    for (name, bytes) in [
        ("a.json", &b"{\"title\": \"x\"}"[..]),
        ("b.md", b"no heading here"),
        ("c.txt", b"# t\nbody"),
        (
            "d.json",
            b"{\"title\": \"t\", \"hypothesis\": \"h\", \"parameters\": {\"x\": \"big\"}}",
        ),
    ] {
        let e = manual::parse(name, bytes).unwrap_err().to_string();
        assert!(e.contains(name), "{e}");
    }
}
