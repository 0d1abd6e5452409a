"""Word lists the scorer uses to tell another candidate answer (a *rival*) from ordinary words.

The scorer says "correct" only when no rival is named beside the gold answer. In Latin script a
rival entity shows itself by its capital letter; the lists below name the capitalized words that
are *not* candidate answers (sentence openers, pronouns, answer labels). Devanagari has no case, so
there every word that is not in the question, not part of a gold alias and not in
:data:`HINDI_COMMON` (function words, copulas, frequent verbs and generic type nouns such as
"city" or "planet", never a name) counts as a possible rival: unknown words make a reply
unresolved rather than correct. Lowercase rivals of common-noun answers ("oxygen" beside "carbon
dioxide") come from the item's answer class (``datasets/llm_eval/answer_classes.json``).

The lists are deliberately generic: they hold no item's answer and no known wrong answer.
"""

from __future__ import annotations

__all__ = [
    "EN_COMMON_CAPITALIZED",
    "HEDGES",
    "HINDI_COMMON",
    "INDEFINITE_ONE",
    "NOT_A_PERSON",
    "SAME_WORD",
    "TYPE_NOUNS",
]

# Capitalized words that are no candidate answer: sentence openers, pronouns, connectives,
# answer labels, politeness words (English and romanized Hindi).
EN_COMMON_CAPITALIZED = frozenset(
    """
    the a an it its it's this that these those there their they them he she his her we our you your i my
    me yes no not however although though while whereas so therefore thus hence in on at by for from
    with of to as after before during since until about around approximately roughly nearly only just
    also even still but and or nor then now here today note sure certainly indeed correct right true
    false answer final short because if when where which who whom whose what why how many much most some
    all both each every one many other another such same first second last next well okay ok absolutely
    definitely probably actually basically generally specifically originally finally overall yeah yep
    nope hello hi great good thanks please let lets let's given based according officially technically
    strictly traditionally historically commonly often usually known called named located situated
    dear sorry apologies oops whoops pardon maaf
    haan han ji jee nahi nahin bilkul sahi galat uttar jawab yeh ye woh wo vo aur ya lekin par toh to
    bhi sirf kya kaun kahan kab kaise kitna kitne kitni ek matlab yani yaani isliye phir abhi aaj
    mera meri mere hamara hamari aapka aapki unka unki unke uska uski iska iski inka
    sir lord lady king queen prince princess emperor empress samrat maharaja maharani raja rani sultan
    saint sant sage rishi maharishi maharshi muni pandit pt swami mahatma sri shri shrimati smt doctor
    professor president minister prime general captain
    """.split()  # noqa: SIM905
)

# Devanagari words that are no candidate answer. Generic type nouns ("city", "planet", "colour")
# are listed: they name the kind of answer, never an answer.
HINDI_COMMON = frozenset(
    """
    है हैं था थी थे हो होता होती होते होना हुआ हुई हुए होगा होगी रहा रही रहे रहता रहती रहते
    गया गई गयी गए गये जाता जाती जाते जाना जा सकता सकती सकते चाहिए
    कहा कहते कहती कहलाता कहलाती कहलाते माना मानी माने मानते जाना जानी जाने
    करता करती करते किया किये किए की कर करके करना करने कराई कराया
    बना बनी बने बनता बनती बनते बनाता बनाती बनाते बनाया बनाई बनवाया बनवाई
    मिलता मिलती मिलते मिला मिली मिले मिलाने मिलाकर देता देती देते दिया दी दिए लेता लेती लेते लिया ली
    आता आती आते आया आई आए पड़ता पड़ती पड़ते लगता लगती लगते स्थित प्रसिद्ध मशहूर
    का की के को में से पर ने तक लिए लिये द्वारा साथ बाद पहले बीच ऊपर नीचे अंदर बाहर पास तरफ़ तरफ ओर
    और या तथा एवं व लेकिन परंतु परन्तु किंतु किन्तु मगर बल्कि जबकि क्योंकि इसलिए इसलिये अतः तो भी ही
    सिर्फ़ सिर्फ केवल लगभग करीब क़रीब यानी अर्थात मतलब जैसे जैसा जैसी वैसे
    यह वह ये वे इस उस इन उन इसे उसे इन्हें उन्हें इसका इसकी इसके उसका उसकी उसके इनका इनकी इनके
    उनका उनकी उनके जो जिस जिसे जिसका जिसकी जिसके जिन जिनका जिनकी जिनके जिन्हें कौन क्या कहाँ कहां
    कब कैसे कितना कितने कितनी कौनसा कौनसी कौन-सा जहाँ जहां वहाँ वहां यहाँ यहां जब तब अब
    एक सबसे बहुत अधिक ज़्यादा ज्यादा कम बड़ा बड़ी बड़े बडा बडी बडे छोटा छोटी छोटे पहला पहली दूसरा
    दूसरी नया नई नए पुराना पुरानी कुल हर सभी सब कोई कुछ दोनों
    नहीं नही न हाँ हां जी सही ग़लत गलत उत्तर जवाब प्रश्न सवाल
    मैं हम आप तुम मेरा मेरी मेरे हमारा हमारी हमारे आपका आपकी आपके अपना अपनी अपने
    पूरा पूरी पूरे लिखा लिखी लिखे लिखा गया रखा रखी रखे चला चली चले
    वाला वाली वाले नाम रूप प्रकार तौर रूप से आमतौर सामान्यतः
    शहर नगर देश राज्य नदी ग्रह रंग पक्षी पशु जानवर फल त्योहार पर्व खेल वाद्य यंत्र महासागर सागर
    महाद्वीप पर्वत पहाड़ चोटी रेगिस्तान मरुस्थल गैस अंग साल वर्ष सन् दिन सप्ताह हफ़्ता हफ्ता घंटे घंटा
    पैर संख्या प्रतिशत डिग्री सेल्सियस राजधानी व्यक्ति इंसान लोग
    पत्नी पति बेटा बेटी बेटे पिता माता माँ मां भाई बहन दादा दादी पोता पोते नाना नानी परिवार याद यादगार
    मुझे मुझको मैंने हमें हमको हमने आपको आपने उसने उन्होंने इन्होंने हूँ हूं फिर तरह तरफ़ इनमें उनमें
    शायद संभवतः सम्भवतः संभव सम्भव पक्का पक्की पक्के यकीन यक़ीन विश्वास निश्चित सुनिश्चित संदेह सन्देह शक
    ख़याल ख्याल ख़्याल विचार राय हिसाब अनुसार अंदाज़ा अंदाजा अनुमान पता ठीक पुष्टि जाँच जांच कह कहना कहूँगा
    सोचता सोचती सोचते समझता समझती समझते मानता मानती लें लीजिए कीजिए करें दो विकल्प
    अक्सर कभी हमेशा ज़्यादातर ज्यादातर बोल बोलते बोलती बोला बोले बता बताते बताती बताया बताए
    सुना सुनते गिनते गिना गिनती गलती ग़लती भ्रम वैसे हालाँकि हालांकि दरअसल असल वास्तव
    महर्षि ऋषि मुनि संत पंडित पं सम्राट बादशाह राजा रानी महाराजा महारानी सुल्तान डॉ डॉक्टर श्री श्रीमती
    महात्मा स्वामी गुरुदेव
    जनवरी फ़रवरी फरवरी मार्च अप्रैल मई जून जुलाई अगस्त सितंबर सितम्बर अक्टूबर अक्तूबर नवंबर नवम्बर दिसंबर दिसम्बर
    कदम विश्व दुनिया भर समय बार हिस्सा हिस्से भाग जगह स्थान क्षेत्र आकार सतह मदद काम बात कारण वजह
    उदाहरण तुलना अंतर फ़र्क शुरू आरंभ समाप्त ख़त्म खत्म जन्म स्थापना घोषणा शासन उपयोग इस्तेमाल
    घोषित स्थापित निर्मित प्रकाशित आयोजित सम्मानित नामित चयनित प्राप्त मान्यता
    """.split()  # noqa: SIM905
) | frozenset(
    stem + ending
    for stems, endings in (
        # frequent verbs, in their common forms: छोड़ -> छोड़ता, छोड़ते, छोड़ा, छोड़कर ...
        (
            "छोड़ रख उतर चल पहुँच पहुंच सीख पढ़ देख सुन बैठ उठ चढ़ घूम फैल बस बदल लौट चुन जीत खोज पूछ समझ सोच मान "
            "जान बोल ढक बह मर जुड़ लड़ हट बढ़ घट निकल पकड़ भेज",
            "ता ती ते ना नी ने ा ी े ें कर",
        ),
        ("सिखा बजा गा पा बना बता बिता ला दिखा अपना चला मना जला सजा", "ता ती ते ना नी ने या यी ये ई ए कर"),
    )
    for stem in stems.split()
    for ending in endings.split()
)

# Phrases that hedge: beside another candidate they leave a reply unresolved; with one candidate the
# reply is that answer, given with doubt.
HEDGES = tuple(
    tuple(p.split())
    for p in (
        "maybe",
        "perhaps",
        "probably",
        "possibly",
        "might be",
        "could be",
        "may be",
        "might have been",
        "could have been",
        "may have been",
        "might also be",
        "could also be",
        "may also be",
        "not sure",
        "not certain",
        "i think",
        "i believe",
        "i guess",
        "if i recall",
        "if i remember",
        "shayad",
        "shaayad",
        "शायद",
        "संभवतः",
        "सम्भवतः",
        "संभव है",
        "pakka nahi",
        "पक्का नहीं",
        "yaad nahi",
        "याद नहीं",
        "lagta hai",
        "लगता है",
        "sure nahi",
        "sure nahin",
        "sure नहीं",
        "sure नही",
        "pakka nahin",
        "पक्का नही",
        "yaad nahin",
        "not 100 sure",
        "not completely sure",
        "not entirely sure",
        "not fully sure",
        "not totally sure",
        "not quite sure",
        "not completely certain",
        "not entirely certain",
        "not remember",
        "not recall",
        "cannot remember",
        "cannot recall",
        "my guess",
        "pata nahi",
        "pata nahin",
        "nahi pata",
        "पता नहीं",
        "नहीं पता",
        "confirm nahi",
        "confirm नहीं",
        "निश्चित नहीं",
        "यकीन नहीं",
        "यक़ीन नहीं",
        "संदेह है",
        "doubt hai",
        "doubt है",
        "हो सकता",
        "हो सकती",
        "ho sakta",
        "ho sakti",
    )
)

# Number words that are mostly the indefinite article ("a city", "एक ग्रह"): never a rival number.
INDEFINITE_ONE = frozenset(("one", "ek", "एक"))

# Nouns that name the kind of answer a question asks for ("which river", "कौन सा ग्रह"): a candidate
# written next to the question's type noun ("the Yamuna River", "मंगल ग्रह") is the one it types.
TYPE_NOUNS = frozenset(
    """
    river city capital country nation planet ocean sea mountain peak desert continent gas organ organelle
    colour color bird animal festival sport game instrument emperor king queen ruler president minister
    leader person scientist author writer poet ship empire civilization civilisation state island lake
    language currency festival element metal
    नदी शहर नगर राजधानी देश राज्य ग्रह महासागर सागर पर्वत पहाड़ चोटी रेगिस्तान मरुस्थल महाद्वीप गैस अंग
    रंग पक्षी पशु जानवर फल त्योहार पर्व खेल वाद्य सम्राट बादशाह राजा रानी राष्ट्रपति प्रधानमंत्री मंत्री
    nadi shehar shahar nagar rajdhani desh rajya grah graha mahasagar sagar parvat pahad registan
    marusthal mahadweep mahadvip ang rang pakshi pashu janwar jaanwar phal tyohar tyohaar khel saaz
    samrat badshah raja rani rashtrapati mantri
    """.split()  # noqa: SIM905
)


# Capitalized words that never name a person, whatever the reply: adjectives of nationality,
# people or language ("the Soviet cosmonaut", "the Latin word"), and the bodies of the sky ("walked
# on the Moon"). Beside a question that asks *who*, such a word is no rival answer.
NOT_A_PERSON = frozenset(
    """
    soviet american russian indian british english french german latin greek roman italian spanish
    chinese japanese korean arabic persian sanskrit hindi urdu bengali tamil telugu marathi gujarati
    punjabi european asian african australian canadian mexican egyptian portuguese dutch polish swedish
    norwegian danish irish scottish welsh austrian swiss turkish israeli pakistani nepali mughal vedic
    hindu muslim buddhist christian jewish sikh jain islamic
    moon earth sun lunar solar
    सोवियत अमेरिकी अमरीकी रूसी भारतीय ब्रिटिश अंग्रेज़ी अंग्रेजी फ्रांसीसी जर्मन लैटिन यूनानी रोमन चीनी जापानी
    अरबी फ़ारसी फारसी संस्कृत हिंदी हिन्दी उर्दू मुग़ल मुगल वैदिक हिंदू हिन्दू मुस्लिम बौद्ध ईसाई सिख जैन
    चाँद चांद चंद्रमा चन्द्रमा पृथ्वी धरती सूरज सूर्य
    chand chaand chanda chandrama prithvi dharti suraj sooraj surya
    """.split()  # noqa: SIM905
)

# The same common word in English, Devanagari Hindi and romanized Hindi. A question word written in
# the reply in another language ("India" in the question, ``भारत`` in the reply) is the question's
# word, no rival answer, and it restates the question as the word itself does.
SAME_WORD = tuple(
    frozenset(group.split())
    for group in (
        "india bharat भारत hindustan हिंदुस्तान हिन्दुस्तान",
        "national rashtriya राष्ट्रीय",
        "moon chand chaand chandrama चाँद चांद चंद्रमा चन्द्रमा",
        "earth prithvi dharti पृथ्वी धरती",
        "sun suraj sooraj surya सूरज सूर्य",
        "water pani paani पानी जल",
        "capital rajdhani राजधानी",
        "animal pashu janwar jaanwar पशु जानवर",
        "bird pakshi पक्षी",
        "planet grah graha ग्रह",
        "country desh देश",
        "city shehar shahar शहर",
        "river nadi नदी",
        "flower phool फूल",
        "fruit phal फल",
        "king raja राजा",
        "emperor samrat सम्राट",
        "space antariksh अंतरिक्ष",
        "world duniya vishv विश्व दुनिया",
    )
)
