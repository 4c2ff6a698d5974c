"""Uploading PDF and Word files: the same checks as text uploads, a clear 4xx for what cannot be read,
and an uploaded PDF cited on its pages."""

from __future__ import annotations

import io
import shutil
import zipfile
import zlib

import pytest

pytest.importorskip("pypdfium2")
pytest.importorskip("fpdf")
pytest.importorskip("docx")

import format_fixtures as ff

from qa_service.core.settings import Settings
from qa_service.web.app import create_app

TOKEN = "s3cret-token-for-uploads"
AUTH = {"Authorization": f"Bearer {TOKEN}"}


@pytest.fixture()
def client(tmp_path):
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    shutil.copy(ff.SEEDS / "002_0ff75a2f1f87531d.txt", corpus)
    settings = Settings(
        index_dir=str(tmp_path / "index"),
        corpus=[str(corpus)],
        upload_dir=str(tmp_path / "uploads"),
        admin_token=TOKEN,
        max_upload_bytes=2_000_000,
    )
    return create_app(settings).test_client()


def upload(client, name: str, data: bytes):
    return client.post(
        "/api/documents", data={"file": (io.BytesIO(data), name)}, headers=AUTH, content_type="multipart/form-data"
    )


def test_an_uploaded_pdf_is_indexed_and_cited_on_its_pages(client):
    stem = "001_ca14ccf12a6e3ca9"
    r = upload(client, f"{stem}.pdf", ff.make_pdf(ff.seed_lines(stem)))
    assert r.status_code == 201, r.get_json()
    assert r.get_json()["document"]["format"] == "pdf"
    body = client.post("/api/ask", json={"question": "谁陪同宋洁督导爱国卫生工作？", "top_k": 1}).get_json()
    src = body["passages"][0]["source"]
    assert src["document"] == f"{stem}.pdf" and src["page"] == 1 and src["boxes"]
    assert "副区长房玉雯陪同" in body["passages"][0]["text"]
    png = client.get(f"/api/documents/{stem}.pdf/pages/1.png?size=400")
    assert png.status_code == 200 and png.data[:8] == b"\x89PNG\r\n\x1a\n"
    assert client.delete(f"/api/documents/{stem}.pdf", headers=AUTH).status_code == 200
    assert client.get(f"/api/documents/{stem}.pdf/pages/1.png").status_code == 404


def test_an_uploaded_docx_is_indexed(client):
    stem = "000_297aa0e12c4718b1"
    r = upload(client, "简报.docx", ff.make_docx(ff.seed_lines(stem), set()))
    assert r.status_code == 201, r.get_json()
    assert r.get_json()["document"]["format"] == "docx" and r.get_json()["document"]["articles"] == 5


def _bomb_docx() -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr("word/document.xml", b" " * (300 * 1024 * 1024))
    return buf.getvalue()


def _bomb_pdf() -> bytes:
    """A stream of zeros that unpacks to 600 MiB from about 600 kB."""
    packed = zlib.compress(b"\0" * (600 << 20), 9)
    head = b"%PDF-1.4\n1 0 obj <</Length " + str(len(packed)).encode() + b" /Filter /FlateDecode>>\nstream\n"
    return head + packed + b"\nendstream endobj\n"


def _locked_pdf() -> bytes:
    from fpdf import FPDF

    pdf = FPDF()
    pdf.set_encryption(owner_password="owner", user_password="secret")
    pdf.add_page()
    return bytes(pdf.output())


@pytest.mark.parametrize(
    ("name", "make", "status", "code"),
    [
        ("locked.pdf", _locked_pdf, 400, "encrypted"),
        ("broken.pdf", lambda: b"%PDF-1.7\n" + b"\x00garbage" * 100, 400, "unreadable_document"),
        ("fake.pdf", lambda: "这不是PDF文件".encode(), 400, "unreadable_document"),
        ("broken.docx", lambda: b"PK\x03\x04broken", 400, "unreadable_document"),
        ("bomb.docx", _bomb_docx, 413, "document_too_large"),
        ("bomb.pdf", _bomb_pdf, 413, "document_too_large"),
        ("big.pdf", lambda: b"%PDF-1.7\n" + b"0" * 2_100_000, 413, "payload_too_large"),
        ("empty.pdf", lambda: _blank_pdf(), 400, "no_text"),
    ],
)
def test_unreadable_uploads_are_a_clear_4xx_and_leave_nothing(client, tmp_path, name, make, status, code):
    r = upload(client, name, make())
    assert r.status_code == status and r.get_json()["error"]["code"] == code, r.get_json()
    assert not (tmp_path / "uploads" / name).exists()
    assert client.get("/healthz").status_code == 200


def _blank_pdf() -> bytes:
    from fpdf import FPDF

    pdf = FPDF()
    pdf.add_page()
    return bytes(pdf.output())
