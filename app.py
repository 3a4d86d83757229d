"""Seedance Playground: the Gradio page and its webhook receiver in one app (a Hugging Face Space's entry point).
Layout: playground/ui/; the served app (page + POST /webhooks/wavespeed): playground/web.py."""

from playground.ui import build_app
from playground.web import create_app, serve

demo = build_app()
app = create_app(demo)

if __name__ == "__main__":
    serve(app)
