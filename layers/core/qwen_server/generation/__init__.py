"""Image and video generation: the `images` function group's logic (routes in `app/routes/images.py` and
`app/routes/videos.py`, upstream flows in the providers)."""
