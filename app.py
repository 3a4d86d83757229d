"""Seedance Playground: the Gradio app (a Hugging Face Space's entry point). Layout: playground/ui/."""

from playground.ui import build_app, launch_kwargs

demo = build_app()

if __name__ == "__main__":
    demo.launch(**launch_kwargs(demo))
