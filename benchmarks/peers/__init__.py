"""The serving benchmark's peers: the generated project's `serving.answering.Answering` behind other frameworks."""
