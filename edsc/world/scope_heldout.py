"""Held-out out-of-scope instructions: what the parser's refusal rate is measured on.

Written apart from the training negatives (:mod:`edsc.world.out_of_scope`), in other wording: other sentence
structures, mostly other words (face parts, edits, languages), so that the rate measures how well refusal
generalises. Every sentence asks for something a bundle of the five attributes cannot do, or for nothing at all.
"""

from __future__ import annotations

__all__ = ["HELD_OUT", "held_out"]

HELD_OUT: dict[str, tuple[str, ...]] = {
    "face_part": (
        "enlarge the nostrils", "could you reshape her nostrils a little", "his cheekbones need to be higher",
        "shrink the earlobes", "I'd love deeper dimples on her", "sharpen up the chin line",
        "pouty lips please", "raise her eyebrows a notch", "widen the gap between the eyes",
        "eyelids should droop less", "remove the mole on her cheek", "get rid of those freckles",
        "add some dimples", "straighten her teeth", "whiten the teeth", "his temples look sunken, fill them in",
        "give her a button nose", "a double chin would be funny", "tidy up the eyebrow shape",
        "thinner nose bridge", "puff up the lips", "the ears stick out, pin them back",
        "longer lashes on the left eye", "make the pupils dilated", "blue eyes instead of brown",
        "his neck is too long", "less wrinkles around the eyes", "add a scar across the cheek",
        "squarer jaw", "rosy cheeks", "make the nose bigger and rounder", "reduce the bags under her eyes",
    ),
    "scoped_property": (
        "turn his beard ginger", "tint the lenses pink", "golden rims on the glasses",
        "give her bangs a purple streak", "bleach the fringe", "dye the stubble white",
        "the beard should be braided", "make his specs look vintage", "a crooked grin",
        "the smile looks fake, make it genuine", "his whiskers should be silver", "color her fringe teal",
    ),
    "accessory": (
        "slap a beanie on him", "a bow tie would look sharp", "pierce her nose", "she needs a nose ring",
        "draw some eyeliner on", "add a headband", "put a veil over her face", "give him a cowboy hat",
        "headscarf please", "get that cap off his head", "lose the earrings", "he should wear a turban",
        "add face paint", "put a party hat on the kid", "no more lipstick",
    ),
    "body": (
        "he should be more buff", "slim her down", "give him broader shoulders", "she looks too skinny, fix that",
        "make him a giant", "morph her into a tiger", "could he look like a superhero",
        "turn this person into a statue", "swap his face with mine", "make her look like a famous actress",
        "change his skin tone", "give her a tan", "make him blink", "open his mouth wide",
        "turn her head to the side", "he should look angry", "make her cry", "make him look sleepy",
    ),
    "image": (
        "boost the exposure", "dim the picture", "apply a vintage look", "desaturate everything",
        "bump up the vibrance", "add some grain", "convert to monochrome", "tilt the photo by ten degrees",
        "cut out the background", "make the background a sunset", "remove the person behind him",
        "enhance the quality", "fix the red eye", "lighten the shadows", "heighten the contrast a lot",
        "give it a polaroid frame", "cartoonify this", "make it look like an oil painting",
        "stretch the image horizontally", "put a caption under it", "add my logo in the corner",
        "increase the dpi", "the photo is too dark", "turn it upside down",
    ),
    "no_attribute": (
        "a little more", "just slightly", "turn that up", "go higher", "lower it a notch", "even more",
        "not so much", "take it to the max", "to level five", "reduce it by two", "stronger", "way less",
        "edit this", "make changes", "fix it", "enhance", "make him better", "can you edit her face",
    ),
    "off_topic": (
        "how is the stock market doing", "what's a good name for a dog", "who painted the mona lisa",
        "give me directions home", "pay my electricity bill", "is the shop open on sunday", "tell me a story",
        "what language do you speak", "wake me up at seven", "how do magnets work", "where are my keys",
        "can you help me with my taxes", "send an email to the team", "what's the score",
        "recommend a good book", "how many calories in an apple",
    ),
    "filler": (
        "yep", "nope", "k", "hmmmm", "uh huh", "sounds good", "perfect", "lol", "ok cool", "thx a lot", "yeah",
        "oops", "wow", "meh", "done", "all good",
    ),
    "gibberish": (
        "asdfgh", "qwerty uiop", "zxcvb nm", "lorem ipsum dolor", "blah blah blah", "xkcd 927", "fhqwhgads",
        "aaaaaa", "jkjkjk", "12345", "h3ll0 w0rld", "mmmm nnnn", "ghjkl;", "plumbus grumbo fleeb", "zzz",
        "snorfle wibble",
    ),
    "punctuation": (
        "!!!???...", "???", "...", "!!!", "?!?!", "-_-", ";;;", "(...)", "* * *", "#@!", ",,,", "?",
    ),
    "empty": (" ", "\t", "\n\n", "   .   ", " , ", "''"),
    "foreign": (
        "rendi il naso più piccolo", "aggiungi gli occhiali", "fallo sorridere di più", "togli la barba",
        "deixa a foto mais clara", "coloca um chapéu nele", "faça ele parecer mais velho", "tira os óculos",
        "maak de neus kleiner", "geef hem een baard", "laat haar lachen", "gör bilden ljusare",
        "zrób nos mniejszy", "burnunu küçült", "rends-le plus âgé", "mets un chapeau rouge",
        "mach das foto schwarz-weiß", "hazle la sonrisa más grande", "鼻を小さくして", "让他笑得更开心",
        "сделай нос меньше", "أضف نظارات", "नाक छोटी करो", "코를 작게 해 주세요",
    ),
}


def held_out() -> list[tuple[str, str]]:
    """Every held-out sentence as (category, text), in a fixed order."""
    return [(category, text) for category, texts in HELD_OUT.items() for text in texts]
