"""The demo's email templates: personalised with the shopper's own history."""

from __future__ import annotations

from wagtail_oneonone.models import EmailTemplate

TEMPLATES = [
    {
        "name": "You left something behind",
        "topic": "offers",
        "subject": "{{ contact.first_name|default('Hello', true) }}, your basket is waiting",
        "preheader": "{{ last_cart|length }} item{{ 's' if last_cart|length != 1 }} saved for you",
        "html_body": """<h1>Still thinking it over?</h1>
<p>Hi {{ contact.first_name|default('there', true) }}, you left these in your basket:</p>
<ul>
{% for item in last_cart %}
  <li><a href="{{ item.url }}">{{ item.name }}</a> x {{ item.quantity }}
      ({{ item.price|money }})</li>
{% else %}
  <li>Your basket is empty now, but our new arrivals are not.</li>
{% endfor %}
</ul>
<p><a href="{{ site.base_url }}/shop/cart/">Back to your basket</a></p>
<p style="font-size:12px"><a href="{{ preferences_url }}">Email preferences</a> ·
<a href="{{ unsubscribe_url }}">Unsubscribe</a></p>""",
    },
    {
        "name": "Picked for you",
        "topic": "news",
        "subject": "New in for {{ contact.first_name|default('you', true) }}",
        "preheader": "Because you looked at {{ recent_products[0].name|default('our shop') }}",
        "html_body": """<h1>Picked for you</h1>
{% if contact.attributes.favourite_category %}
<p>More {{ contact.attributes.favourite_category }} you might like:</p>
{% else %}
<p>A few things we think you will like:</p>
{% endif %}
{% for product in recent_products[:3] %}
<p><a href="{{ product.url }}">{{ product.name }}</a> — {{ product.price|money }}</p>
{% endfor %}
<p style="font-size:12px"><a href="{{ unsubscribe_url }}">Unsubscribe</a></p>""",
    },
]


def install_email_templates() -> int:
    """Create the demo's templates that are missing; returns how many were created."""
    created = 0
    for fields in TEMPLATES:
        _, was_created = EmailTemplate.objects.get_or_create(
            name=fields["name"], defaults={key: v for key, v in fields.items() if key != "name"}
        )
        created += was_created
    return created
