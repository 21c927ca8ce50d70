"""The words the WebShop catalog is generated from: categories, product types, attributes, options.

Written for rldojo (not taken from any data set). Each category has shared attributes and five
product types; each type has its own attributes, option names with their values, and a price
range. `catalog.py` draws products from these with a seeded generator.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class ProductType:
    """One kind of product (the 'query' of the original WebShop)."""

    name: str
    """What a shopper calls it; its words are the type words of the reward's type match."""
    sub: str
    """The middle level of its category path."""
    attributes: tuple[str, ...]
    """Attributes only this type has."""
    options: dict[str, tuple[str, ...]]
    """Option name -> the values a product of this type may offer."""
    price: tuple[float, float]
    """Lowest and highest price a product of this type is given."""


@dataclass(frozen=True)
class Category:
    """A top-level category with attributes shared by its types."""

    key: str
    title: str
    attributes: tuple[str, ...]
    uses: tuple[str, ...]
    """Occasions the descriptions mention."""
    types: tuple[ProductType, ...]


def _t(name: str, sub: str, attributes: str, options: dict[str, str], price: tuple[float, float]) -> ProductType:
    return ProductType(
        name=name,
        sub=sub,
        attributes=tuple(a.strip() for a in attributes.split(",")),
        options={k: tuple(v.strip() for v in vals.split(",")) for k, vals in options.items()},
        price=price,
    )


_COLORS = "black, white, navy blue, red, forest green, heather grey, burgundy, pink, beige, sky blue"
_SIZES = "x-small, small, medium, large, x-large, xx-large"

CATEGORIES: tuple[Category, ...] = (
    Category(
        "beauty",
        "Beauty & Personal Care",
        ("cruelty free", "paraben free", "dermatologist tested", "travel size"),
        ("daily routines", "sensitive skin", "a spa day at home"),
        (
            _t(
                "shampoo",
                "Hair Care",
                "sulfate free, color safe, for dry hair, argan oil, volumizing, "
                "anti dandruff, tea tree oil, silicone free",
                {
                    "scent": "lavender, coconut, citrus, unscented, mint, rose",
                    "size": "8 fl oz, 12 fl oz, 16 fl oz, 32 fl oz",
                },
                (6, 38),
            ),
            _t(
                "face moisturizer",
                "Skin Care",
                "hyaluronic acid, spf 30, oil free, non comedogenic, "
                "fragrance free, vitamin c, anti aging, fast absorbing",
                {"size": "1.7 oz, 2.5 oz, 3.4 oz"},
                (9, 64),
            ),
            _t(
                "lipstick",
                "Makeup",
                "long lasting, matte finish, moisturizing, smudge proof, highly pigmented, vegan formula, satin finish",
                {"color": "ruby red, nude beige, coral, berry, mauve, classic pink, plum"},
                (5, 32),
            ),
            _t(
                "body wash",
                "Bath & Body",
                "moisturizing, shea butter, natural ingredients, gentle formula, exfoliating, aloe vera, ph balanced",
                {
                    "scent": "eucalyptus, vanilla, ocean breeze, cucumber, sandalwood",
                    "size": "12 fl oz, 18 fl oz, 24 fl oz",
                },
                (4, 26),
            ),
            _t(
                "hair dryer",
                "Hair Care",
                "ionic technology, fast drying, low noise, "
                "foldable handle, ceramic coating, diffuser attachment, cool shot button",
                {"color": "black, rose gold, white, purple"},
                (18, 160),
            ),
        ),
    ),
    Category(
        "clothing",
        "Clothing, Shoes & Jewelry",
        ("machine washable", "breathable fabric", "relaxed fit", "soft material"),
        ("everyday wear", "weekend trips", "the office"),
        (
            _t(
                "men's t-shirt",
                "Men",
                "crew neck, short sleeve, cotton blend, moisture wicking, tagless, slim fit, pocket front",
                {"color": _COLORS, "size": _SIZES},
                (8, 35),
            ),
            _t(
                "women's dress",
                "Women",
                "a-line, v-neck, long sleeve, floral print, knee length, wrinkle resistant, high waist, button front",
                {"color": _COLORS, "size": _SIZES},
                (18, 90),
            ),
            _t(
                "running shoes",
                "Shoes",
                "lightweight, non slip sole, arch support, mesh upper, "
                "cushioned insole, wide toe box, reflective details",
                {
                    "color": "black, white, grey, blue, neon green, red",
                    "size": "7, 7.5, 8, 8.5, 9, 9.5, 10, 10.5, 11, 12",
                },
                (30, 140),
            ),
            _t(
                "winter jacket",
                "Outerwear",
                "water resistant, insulated, detachable hood, fleece lined, windproof, zip pockets, packable",
                {"color": _COLORS, "size": _SIZES},
                (40, 220),
            ),
            _t(
                "yoga pants",
                "Activewear",
                "four way stretch, tummy control, squat proof, high waisted, side pockets, quick dry, full length",
                {"color": _COLORS, "size": _SIZES},
                (12, 60),
            ),
        ),
    ),
    Category(
        "grocery",
        "Grocery & Gourmet Food",
        ("non gmo", "gluten free", "kosher certified", "resealable bag"),
        ("breakfast", "snacking on the go", "family meals"),
        (
            _t(
                "coffee beans",
                "Beverages",
                "whole bean, medium roast, dark roast, single origin, fair trade, organic, low acid",
                {"flavor": "classic, hazelnut, vanilla, caramel, mocha", "size": "12 ounce, 2 pound, 5 pound"},
                (8, 70),
            ),
            _t(
                "green tea",
                "Beverages",
                "loose leaf, caffeine free, antioxidant rich, "
                "individually wrapped, organic, japanese sencha, biodegradable bags",
                {"flavor": "jasmine, matcha, lemon, ginger, peach", "count": "20 count, 50 count, 100 count"},
                (5, 30),
            ),
            _t(
                "protein bar",
                "Snacks",
                "high protein, low sugar, keto friendly, plant based, no artificial sweeteners, high fiber, dairy free",
                {
                    "flavor": "chocolate chip, peanut butter, cookie dough, berry, salted caramel",
                    "count": "6 count, 12 count, 24 count",
                },
                (10, 50),
            ),
            _t(
                "olive oil",
                "Pantry",
                "extra virgin, cold pressed, first harvest, glass bottle, single estate, unfiltered, polyphenol rich",
                {"size": "500 ml, 750 ml, 1 liter, 3 liter"},
                (9, 75),
            ),
            _t(
                "dark chocolate",
                "Snacks",
                "70 percent cacao, sugar free, vegan, fair trade, organic, individually wrapped, no palm oil",
                {"flavor": "sea salt, almond, orange, raspberry, mint", "count": "4 pack, 10 pack, 20 pack"},
                (6, 40),
            ),
        ),
    ),
    Category(
        "home",
        "Home & Kitchen",
        ("easy to clean", "modern design", "space saving", "gift ready"),
        ("the living room", "a new apartment", "everyday cooking"),
        (
            _t(
                "throw pillow",
                "Bedding & Decor",
                "velvet cover, hidden zipper, down alternative, double sided, hypoallergenic filling, removable cover",
                {
                    "color": "mustard yellow, teal, blush pink, charcoal, cream, sage green",
                    "size": "16 x 16 inch, 18 x 18 inch, 20 x 20 inch",
                },
                (9, 45),
            ),
            _t(
                "bath towel set",
                "Bath",
                "100 percent cotton, quick drying, highly absorbent, "
                "lint free, oeko-tex certified, extra large, fade resistant",
                {"color": "white, grey, navy, aqua, ivory, lavender", "pieces": "4 piece, 6 piece, 8 piece"},
                (20, 90),
            ),
            _t(
                "chef knife",
                "Kitchen Utensils",
                "high carbon steel, full tang, ergonomic handle, "
                "razor sharp, rust resistant, dishwasher safe, damascus pattern",
                {"size": "6 inch, 8 inch, 10 inch"},
                (15, 180),
            ),
            _t(
                "frying pan",
                "Cookware",
                "non stick coating, induction compatible, oven safe, "
                "pfoa free, stay cool handle, dishwasher safe, cast iron",
                {"size": "8 inch, 10 inch, 12 inch", "color": "black, granite grey, red, blue"},
                (15, 110),
            ),
            _t(
                "table lamp",
                "Lighting",
                "dimmable, usb charging port, touch control, linen shade, ceramic base, energy efficient, warm light",
                {"color": "white, black, brass, walnut, sage"},
                (18, 120),
            ),
        ),
    ),
    Category(
        "electronics",
        "Electronics",
        ("fast charging", "compact design", "two year warranty", "universal compatibility"),
        ("travel", "working from home", "daily commutes"),
        (
            _t(
                "wireless earbuds",
                "Headphones",
                "noise cancelling, bluetooth 5.3, water resistant, "
                "charging case, touch controls, long battery life, built in microphone",
                {"color": "black, white, navy, rose gold"},
                (20, 200),
            ),
            _t(
                "phone case",
                "Cell Phone Accessories",
                "shockproof, slim profile, wireless charging compatible, raised edges, kickstand, clear back, magnetic",
                {
                    "color": "clear, black, blue, pink, green, purple",
                    "model": "iphone 15, iphone 15 pro, galaxy s24, pixel 8",
                },
                (6, 40),
            ),
            _t(
                "usb c charger",
                "Chargers",
                "65 watt, gan technology, foldable plug, dual port, "
                "overheat protection, power delivery, travel friendly",
                {"color": "white, black", "cable": "no cable, 3 ft cable, 6 ft cable"},
                (12, 70),
            ),
            _t(
                "bluetooth speaker",
                "Portable Audio",
                "waterproof, deep bass, 24 hour playtime, "
                "stereo pairing, shockproof, built in microphone, rugged design",
                {"color": "black, blue, red, camo, teal"},
                (20, 180),
            ),
            _t(
                "hdmi cable",
                "Cables",
                "4k 120hz, braided nylon, gold plated connectors, "
                "high speed, ethernet support, hdr compatible, 8k ready",
                {"size": "3 ft, 6 ft, 10 ft, 15 ft, 25 ft", "count": "1 pack, 2 pack, 3 pack"},
                (5, 35),
            ),
        ),
    ),
    Category(
        "sports",
        "Sports & Outdoors",
        ("durable construction", "lightweight", "carrying strap", "all weather"),
        ("the gym", "camping trips", "outdoor training"),
        (
            _t(
                "yoga mat",
                "Exercise & Fitness",
                "extra thick, non slip surface, eco friendly, "
                "alignment lines, tpe material, sweat resistant, double sided",
                {"color": "purple, black, teal, pink, grey, blue", "size": "4 mm, 6 mm, 8 mm"},
                (12, 80),
            ),
            _t(
                "camping tent",
                "Camping & Hiking",
                "waterproof, easy setup, rain fly, mesh windows, aluminum poles, double wall, 3 season",
                {"capacity": "2 person, 4 person, 6 person", "color": "green, orange, grey, blue"},
                (45, 320),
            ),
            _t(
                "water bottle",
                "Hydration",
                "insulated, bpa free, leak proof, stainless steel, straw lid, wide mouth, dishwasher safe",
                {"color": "black, white, sage, coral, navy, lilac", "size": "18 oz, 24 oz, 32 oz, 40 oz"},
                (10, 48),
            ),
            _t(
                "resistance bands",
                "Exercise & Fitness",
                "latex free, fabric loops, anti snap, door anchor, five levels, with handles, exercise guide",
                {"set": "3 band set, 5 band set, 11 piece set"},
                (9, 45),
            ),
            _t(
                "hiking backpack",
                "Camping & Hiking",
                "hydration compatible, rain cover, "
                "padded hip belt, ventilated back, multiple compartments, trekking pole loops",
                {"size": "20 liter, 35 liter, 50 liter, 65 liter", "color": "black, olive, orange, blue"},
                (30, 190),
            ),
        ),
    ),
    Category(
        "toys",
        "Toys & Games",
        ("ages 3 and up", "stem learning", "non toxic", "storage box included"),
        ("birthdays", "family game night", "rainy afternoons"),
        (
            _t(
                "building blocks",
                "Building Toys",
                "compatible with major brands, creative play, bright colors, 500 pieces, magnetic, large bricks",
                {"set": "classic set, city set, castle set, space set"},
                (12, 90),
            ),
            _t(
                "jigsaw puzzle",
                "Puzzles",
                "1000 pieces, thick pieces, poster included, landscape theme, matte finish, glare free, random cut",
                {"theme": "mountain lake, city skyline, ocean sunset, flower garden, wildlife"},
                (8, 40),
            ),
            _t(
                "plush toy",
                "Stuffed Animals",
                "super soft, machine washable toy, hug size, embroidered eyes, weighted, hypoallergenic stuffing",
                {"animal": "bear, bunny, dinosaur, unicorn, penguin, fox", "size": "8 inch, 12 inch, 20 inch"},
                (7, 45),
            ),
            _t(
                "board game",
                "Games",
                "2 to 6 players, strategy, cooperative play, quick setup, 30 minute games, expansion ready, party game",
                {"edition": "standard edition, deluxe edition, travel edition"},
                (12, 70),
            ),
            _t(
                "remote control car",
                "Vehicles",
                "rechargeable battery, all terrain, 4wd, high speed, led lights, waterproof body, 2.4ghz remote",
                {"color": "red, blue, green, yellow, black"},
                (20, 130),
            ),
        ),
    ),
    Category(
        "pets",
        "Pet Supplies",
        ("vet recommended", "made in usa", "for all breeds", "easy storage"),
        ("puppies and kittens", "senior pets", "busy pet owners"),
        (
            _t(
                "dog food",
                "Dogs",
                "grain free, real chicken, high protein formula, no fillers, omega 3, small breed, limited ingredient",
                {"flavor": "chicken, beef, salmon, lamb, turkey", "size": "4 pound, 15 pound, 30 pound"},
                (12, 85),
            ),
            _t(
                "cat litter",
                "Cats",
                "clumping, unscented litter, dust free, odor control, lightweight formula, flushable, clay free",
                {"size": "10 pound, 20 pound, 40 pound"},
                (8, 40),
            ),
            _t(
                "dog leash",
                "Dogs",
                "reflective stitching, padded handle, heavy duty clip, retractable, hands free, traffic handle",
                {"color": "black, red, blue, orange, pink", "length": "4 ft, 6 ft, 10 ft, 16 ft"},
                (8, 38),
            ),
            _t(
                "cat scratching post",
                "Cats",
                "sisal rope, hanging toy, stable base, multi level, plush perch, carpet covered",
                {"size": "20 inch, 32 inch, 48 inch", "color": "beige, grey, white"},
                (15, 95),
            ),
            _t(
                "pet bed",
                "Beds & Furniture",
                "orthopedic foam, washable cover, raised rim, calming donut, waterproof liner, non skid bottom",
                {"size": "small, medium, large, x-large", "color": "grey, brown, cream, navy"},
                (18, 110),
            ),
        ),
    ),
    Category(
        "office",
        "Office Products",
        ("bulk pack", "school supplies", "smooth writing", "recycled materials"),
        ("students", "the home office", "meetings"),
        (
            _t(
                "gel pens",
                "Writing Instruments",
                "quick drying ink, fine point, retractable, assorted colors, comfort grip, smear proof",
                {"count": "12 pack, 24 pack, 48 pack", "point": "0.5 mm, 0.7 mm, 1.0 mm"},
                (6, 30),
            ),
            _t(
                "spiral notebook",
                "Paper",
                "college ruled, 100 sheets, perforated pages, hardcover, pocket dividers, bleed resistant paper",
                {"size": "a5, letter size, b5", "count": "1 pack, 3 pack, 6 pack"},
                (4, 28),
            ),
            _t(
                "desk organizer",
                "Desk Accessories",
                "mesh metal, drawer included, bamboo, multiple compartments, sturdy build, monitor stand",
                {"color": "black, white, natural wood, silver"},
                (12, 60),
            ),
            _t(
                "office chair",
                "Furniture",
                "lumbar support, adjustable height, breathable mesh, "
                "padded armrests, swivel, headrest, heavy duty base",
                {"color": "black, grey, white, blue"},
                (70, 420),
            ),
            _t(
                "sticky notes",
                "Paper",
                "super sticky, 3 x 3 inch, lined, pastel colors, neon colors, recyclable",
                {"count": "6 pads, 12 pads, 24 pads"},
                (4, 25),
            ),
        ),
    ),
    Category(
        "tools",
        "Tools & Home Improvement",
        ("professional grade", "heavy duty", "easy to use", "one year warranty"),
        ("diy projects", "home repairs", "the garage"),
        (
            _t(
                "cordless drill",
                "Power Tools",
                "brushless motor, 20v battery, two speed, led work light, keyless chuck, carrying case, fast charger",
                {"kit": "tool only, one battery kit, two battery kit"},
                (40, 230),
            ),
            _t(
                "led light bulbs",
                "Lighting",
                "daylight, soft white, dimmable bulbs, energy star, 60 watt equivalent, flicker free, long life",
                {"count": "4 pack, 8 pack, 16 pack", "base": "e26, e12, gu10"},
                (8, 45),
            ),
            _t(
                "tape measure",
                "Hand Tools",
                "magnetic hook, auto lock, shock absorbent case, metric and imperial, belt clip, nylon coated blade",
                {"length": "16 ft, 25 ft, 35 ft"},
                (7, 35),
            ),
            _t(
                "screwdriver set",
                "Hand Tools",
                "magnetic tips, chrome vanadium, precision bits, storage case, non slip handles, insulated",
                {"pieces": "12 piece, 24 piece, 42 piece, 100 piece"},
                (10, 70),
            ),
            _t(
                "work gloves",
                "Safety",
                "cut resistant, touchscreen fingertips, breathable gloves, "
                "nitrile coated, leather palm, reinforced thumb",
                {"size": "small, medium, large, x-large", "count": "1 pair, 3 pairs, 6 pairs"},
                (8, 40),
            ),
        ),
    ),
    Category(
        "health",
        "Health & Household",
        ("doctor formulated", "third party tested", "value size", "travel friendly"),
        ("wellness routines", "the whole family", "flu season"),
        (
            _t(
                "vitamin d supplement",
                "Vitamins",
                "5000 iu, softgels, with k2, vegan capsules, easy to swallow, no fillers supplement, once daily",
                {"count": "60 count, 120 count, 360 count"},
                (8, 40),
            ),
            _t(
                "hand sanitizer",
                "Personal Care",
                "kills 99.9 percent of germs, moisturizing aloe, "
                "fragrance free, pump bottle, gel formula, quick evaporating",
                {"scent": "unscented, lemon, lavender, fresh", "size": "2 fl oz, 8 fl oz, 1 liter"},
                (4, 28),
            ),
            _t(
                "first aid kit",
                "Medical Supplies",
                "waterproof case, 200 pieces, emergency blanket, compact kit, osha compliant, refillable",
                {"size": "small kit, medium kit, large kit"},
                (12, 80),
            ),
            _t(
                "laundry detergent",
                "Household Supplies",
                "he compatible, free and clear, stain fighting, plant based formula, concentrated, cold water",
                {"scent": "fresh linen, lavender, unscented, spring", "size": "50 oz, 100 oz, 150 oz"},
                (8, 40),
            ),
            _t(
                "face masks",
                "Medical Supplies",
                "3 ply, adjustable nose clip, individually packed, latex free, ear loops, fda registered",
                {"color": "blue, black, white, pink", "count": "50 count, 100 count, 200 count"},
                (6, 35),
            ),
        ),
    ),
    Category(
        "baby",
        "Baby Products",
        ("bpa free", "pediatrician approved", "hypoallergenic", "gentle on skin"),
        ("newborns", "toddlers", "diaper bags"),
        (
            _t(
                "baby wipes",
                "Diapering",
                "unscented wipes, 99 percent water, thick wipes, flip top lid, plant based fibers, alcohol free",
                {"count": "72 count, 216 count, 720 count"},
                (5, 40),
            ),
            _t(
                "diapers",
                "Diapering",
                "wetness indicator, leak protection, overnight, soft waistband, chlorine free, breathable diapers",
                {"size": "newborn, size 1, size 2, size 3, size 4, size 5", "count": "84 count, 148 count"},
                (15, 70),
            ),
            _t(
                "baby bottle",
                "Feeding",
                "anti colic, slow flow nipple, glass, easy to hold, wide neck, dishwasher safe bottles",
                {"size": "4 oz, 8 oz, 9 oz", "count": "3 pack, 4 pack, 6 pack"},
                (10, 50),
            ),
            _t(
                "teething toy",
                "Feeding",
                "food grade silicone, freezer safe, textured surface, easy grip, one piece design, animal shape",
                {"color": "mint, peach, grey, lilac, mustard"},
                (5, 22),
            ),
            _t(
                "baby blanket",
                "Nursery",
                "muslin cotton, swaddle, lightweight blanket, double layer, minky dot, receiving blanket",
                {"color": "white, sage, dusty pink, oatmeal, light blue", "count": "1 pack, 2 pack, 4 pack"},
                (10, 50),
            ),
        ),
    ),
)

BRAND_SYLLABLES: tuple[str, ...] = (
    "lu",
    "vo",
    "ra",
    "ken",
    "zi",
    "mo",
    "ta",
    "bel",
    "dor",
    "fin",
    "sa",
    "ri",
    "no",
    "vex",
    "ka",
    "lin",
    "po",
    "mi",
    "tor",
    "al",
    "ve",
    "qu",
    "sol",
    "ny",
    "ga",
    "rex",
    "pi",
    "dun",
    "el",
    "ze",
)

# Phrases the generated descriptions and features are built from.
FEATURE_LEADS: tuple[str, ...] = (
    "Designed to be {attr}",
    "Thoughtfully made: {attr}",
    "Shoppers love that it is {attr}",
    "Built around one idea: {attr}",
    "A standout detail: {attr}",
    "Every unit is checked to be {attr}",
)
DESCRIPTION_OPENERS: tuple[str, ...] = (
    "Meet the {brand} {type}.",
    "The {brand} {type} is made for {use}.",
    "Looking for a dependable {type}? The {brand} {type} is ready for {use}.",
    "{brand} brings a {type} that fits right into {use}.",
)
DESCRIPTION_MIDDLES: tuple[str, ...] = (
    "It is {attrs}.",
    "Highlights include: {attrs}.",
    "You get a product that is {attrs}.",
)
DESCRIPTION_CLOSERS: tuple[str, ...] = (
    "Backed by friendly customer service.",
    "A simple upgrade you will notice every day.",
    "Order today and see the difference.",
    "Great as a gift or for yourself.",
)
INSTRUCTION_OPENERS: tuple[str, ...] = (
    "i need",
    "i'm looking for",
    "find me",
    "i want to buy",
    "i would like",
    "help me find",
)
