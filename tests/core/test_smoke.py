from __future__ import annotations


def test_home_lists_workflows_in_japanese_by_default(client):
    resp = client.get("/")
    assert resp.status_code == 200
    html = resp.get_data(as_text=True)
    assert '<html lang="ja">' in html
    assert "母子健康手帳の交付（来所予約）" in html


def test_english_by_accept_language(client):
    html = client.get("/", headers={"Accept-Language": "en-US,en;q=0.9"}).get_data(as_text=True)
    assert '<html lang="en">' in html
    assert "Maternal and child health handbook" in html
