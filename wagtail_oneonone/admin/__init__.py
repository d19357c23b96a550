"""The Wagtail admin for wagtail-oneonone: viewsets, views, forms and permission policies."""
