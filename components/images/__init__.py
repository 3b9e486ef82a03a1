"""The app images: prebuilt or built by ImageBuild, and the pull secret that fetches them."""
