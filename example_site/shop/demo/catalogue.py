"""The demo catalogue: the page tree, ~50 products and a generated image for each."""

from __future__ import annotations

import colorsys
import random
from decimal import Decimal
from io import BytesIO
from urllib.parse import urlsplit

from django.conf import settings
from django.core.files.images import ImageFile
from django.utils.text import slugify
from PIL import Image as PILImage
from PIL import ImageDraw, ImageFont
from wagtail.images import get_image_model
from wagtail.models import Collection, Page, Site
from wagtail.utils.file import hash_filelike

from ..models import Category, HomePage, ProductIndexPage, ProductPage

COLLECTION_NAME = "Demo products"

#: name, one-line description; eight per category.
PRODUCTS: dict[str, list[tuple[str, str]]] = {
    Category.SHOES: [
        ("Harbour Leather Brogues", "Hand-finished brogues on a Goodyear-welted sole."),
        ("Fellside Walking Boots", "Waterproof nubuck boots for muddy ridges."),
        ("Canvas Deck Shoes", "Light, washable and made for the harbour wall."),
        ("Suede Chelsea Boots", "Soft suede with elastic sides and a crepe sole."),
        ("Trail Running Shoes", "Grippy lugs and a cushioned midsole."),
        ("Wool-Lined Slippers", "Sheepskin-lined slippers for cold kitchens."),
        ("Classic White Trainers", "Clean leather trainers that go with everything."),
        ("Waxed Desert Boots", "Two-eyelet boots in waxed cotton and suede."),
    ],
    Category.JACKETS: [
        ("Waxed Field Jacket", "Four pockets, a cord collar and a lifetime of rewaxing."),
        ("Quilted Gilet", "A warm layer that packs into its own pocket."),
        ("Packable Rain Shell", "Taped seams; folds down to the size of an apple."),
        ("Wool Pea Coat", "Double-breasted Melton wool with horn buttons."),
        ("Denim Trucker Jacket", "Rigid selvedge denim that softens with wear."),
        ("Down Puffer Jacket", "Responsibly sourced down, warm to minus ten."),
        ("Harrington Jacket", "Cotton twill with a tartan lining."),
        ("Linen Overshirt", "A summer layer in washed Irish linen."),
    ],
    Category.KNITWEAR: [
        ("Merino Crew Jumper", "Fine merino that never itches."),
        ("Fisherman's Rib Sweater", "Chunky rib knit in undyed wool."),
        ("Lambswool Cardigan", "Five buttons, two pockets, endless wear."),
        ("Cashmere Roll Neck", "Pure cashmere from a Scottish mill."),
        ("Cotton Breton Sweater", "Stripes since 1858, in heavy cotton."),
        ("Shetland Jumper", "Brushed Shetland wool in heathered tones."),
        ("Alpaca Cardigan", "Light as air and warmer than it looks."),
        ("Zip Neck Sweater", "A quarter-zip in soft lambswool."),
    ],
    Category.BAGS: [
        ("Canvas Tote", "Heavy canvas with leather handles."),
        ("Leather Satchel", "Vegetable-tanned leather that ages beautifully."),
        ("Roll-Top Backpack", "Waterproof, with a padded laptop sleeve."),
        ("Weekender Holdall", "Fits two nights' worth, and the kitchen sink."),
        ("Cross-Body Bag", "Small enough to forget, big enough for a paperback."),
        ("Waxed Messenger Bag", "Waxed cotton with brass hardware."),
        ("Leather Card Wallet", "Six cards and a note, nothing more."),
        ("Waxed Wash Bag", "A wipe-clean wash bag for travel."),
    ],
    Category.ACCESSORIES: [
        ("Lambswool Scarf", "Woven in the Borders, soft as a cloud."),
        ("Bridle Leather Belt", "Cut from one piece of English bridle leather."),
        ("Ribbed Beanie", "Merino rib that keeps its shape."),
        ("Wool Socks, Three Pack", "Cushioned soles, reinforced heels."),
        ("Leather Gloves", "Cashmere-lined deerskin gloves."),
        ("Tweed Flat Cap", "Harris tweed with a quilted lining."),
        ("Silk Pocket Square", "Hand-rolled edges, printed in Macclesfield."),
        ("Enamel Pin Set", "Three pins for your jacket or bag."),
    ],
    Category.HOME: [
        ("Linen Tea Towels", "A pair of stonewashed linen tea towels."),
        ("Stoneware Mug", "Thrown by hand and glazed in speckled oat."),
        ("Wool Throw", "A blanket for the sofa, woven in Wales."),
        ("Beeswax Candle", "Hand-poured beeswax that burns for forty hours."),
        ("Enamel Coffee Pot", "Stovetop enamel for camp or kitchen."),
        ("Cotton Cushion Cover", "Block-printed cotton with a hidden zip."),
        ("Oak Serving Board", "Solid English oak, oiled and ready."),
        ("Ceramic Plant Pot", "With a saucer; drains properly."),
    ],
}

#: lowest and highest price (whole pounds) per category.
PRICE_RANGES: dict[str, tuple[int, int]] = {
    Category.SHOES: (45, 165),
    Category.JACKETS: (65, 240),
    Category.KNITWEAR: (40, 180),
    Category.BAGS: (25, 210),
    Category.ACCESSORIES: (12, 70),
    Category.HOME: (9, 95),
}

#: base hue (0-1) per category, so a category's images look like a family.
HUES: dict[str, float] = {
    Category.SHOES: 0.07,
    Category.JACKETS: 0.36,
    Category.KNITWEAR: 0.58,
    Category.BAGS: 0.10,
    Category.ACCESSORIES: 0.80,
    Category.HOME: 0.95,
}


def demo_price(rng: random.Random, category: str) -> Decimal:
    low, high = PRICE_RANGES[category]
    pounds = rng.randint(low, high)
    # Shops price at .00, .50 and .95, not at random pennies.
    return Decimal(pounds) + Decimal(rng.choice(["0.00", "0.50", "0.95", "0.00"]))


def product_png(title: str, hue: float, size: int = 600) -> bytes:
    """A flat-coloured square with the product's initial: cheap, but recognisable."""
    red, green, blue = colorsys.hls_to_rgb(hue % 1.0, 0.55, 0.45)
    background = (int(red * 255), int(green * 255), int(blue * 255))
    image = PILImage.new("RGB", (size, size), background)
    draw = ImageDraw.Draw(image)
    draw.rectangle([0, size * 0.82, size, size], fill=(255, 255, 255))
    draw.text(
        (size / 2, size * 0.42),
        title[0].upper(),
        fill=(255, 255, 255),
        font=ImageFont.load_default(size=int(size * 0.45)),
        anchor="mm",
    )
    draw.text(
        (size / 2, size * 0.91),
        title,
        fill=(60, 60, 60),
        font=ImageFont.load_default(size=int(size * 0.055)),
        anchor="mm",
    )
    buffer = BytesIO()
    image.save(buffer, format="PNG", optimize=True)
    return buffer.getvalue()


def create_image(title: str, hue: float, collection: Collection) -> object:
    data = product_png(title, hue)
    buffer = BytesIO(data)
    image_model = get_image_model()
    image = image_model(
        title=title,
        collection=collection,
        file=ImageFile(buffer, name=f"{slugify(title)}.png"),
        file_size=len(data),
        file_hash=hash_filelike(buffer),
    )
    image.save()
    return image


def demo_collection() -> Collection:
    root = Collection.get_first_root_node()
    existing = root.get_children().filter(name=COLLECTION_NAME).first()
    return existing or root.add_child(name=COLLECTION_NAME)


def build_page_tree() -> tuple[HomePage, ProductIndexPage]:
    """Home and product listing pages, with the default site pointing at home."""
    root = Page.get_first_root_node()
    # Wagtail's migrations leave a "Welcome to Wagtail" page as the site root. Removing it
    # cascades to its Site; a new Site is made below (as Wagtail's project template does).
    for page in root.get_children().exact_type(Page):
        page.delete()
    home = root.add_child(
        instance=HomePage(
            title="Oak & Thread",
            slug="home",
            intro="Good things for the cold months and the long walks. Made to last.",
        )
    )
    base = urlsplit(getattr(settings, "WAGTAILADMIN_BASE_URL", "") or "http://localhost")
    Site.objects.filter(is_default_site=True).delete()
    Site.objects.create(
        hostname=base.hostname or "localhost",
        port=base.port or (443 if base.scheme == "https" else 80),
        root_page=home,
        site_name="Oak & Thread",
        is_default_site=True,
    )
    index = home.add_child(
        instance=ProductIndexPage(
            title="Products", slug="products", intro="Everything in the shop, by category."
        )
    )
    return home, index


def build_catalogue(
    index: ProductIndexPage, rng: random.Random, *, limit: int | None = None
) -> list[ProductPage]:
    """Product pages under ``index``, round-robin over categories (so a limit still spans them)."""
    collection = demo_collection()
    rows = []
    for position in range(max(len(items) for items in PRODUCTS.values())):
        for category, items in PRODUCTS.items():
            if position < len(items):
                rows.append((category, *items[position]))
    products = []
    for number, (category, title, description) in enumerate(rows[:limit], start=1):
        hue = HUES[category] + rng.uniform(-0.04, 0.04)
        product = ProductPage(
            title=title,
            slug=slugify(title),
            sku=f"OT-{str(category)[:3].upper()}-{number:03d}",
            price=demo_price(rng, category),
            category=category,
            short_description=description,
            image=create_image(title, hue, collection),
        )
        index.add_child(instance=product)
        products.append(product)
    return products
