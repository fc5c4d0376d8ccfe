//! The `core-cx` instrument: three questions and an optional comment, the same on every channel,
//! with their texts in every locale. Question ids and scales never change within a version.

/// One version of the survey.
#[derive(Debug)]
pub struct Instrument {
    pub id: &'static str,
    pub version: u32,
    /// Highest point of the effort scale (1 = very difficult … 7 = very easy).
    pub effort_max: u8,
    /// Highest point of the confidence scale (1 = not at all … 5 = completely).
    pub confidence_max: u8,
    /// The emotion choices, in the order they are shown.
    pub emotions: [&'static str; 5],
    /// Longest comment, in characters.
    pub comment_max_chars: usize,
    pub locales: &'static [LocaleTexts],
}

impl Instrument {
    /// The texts for `code`, if the instrument has that locale.
    pub fn locale(&self, code: &str) -> Option<&'static LocaleTexts> {
        self.locales.iter().find(|l| l.code == code)
    }

    /// The best locale for a browser language tag such as `fr-CA`, falling back to English.
    pub fn negotiate(&self, tag: &str) -> &'static LocaleTexts {
        let primary = tag.split(['-', '_']).next().unwrap_or("");
        self.locales
            .iter()
            .find(|l| l.code.eq_ignore_ascii_case(primary))
            .unwrap_or(&self.locales[0])
    }
}

/// Everything a person reads, in one locale.
#[derive(Debug)]
pub struct LocaleTexts {
    pub code: &'static str,
    /// The language's own name, shown on the kiosk's language choice.
    pub name: &'static str,
    pub rtl: bool,
    pub effort: &'static str,
    pub effort_labels: [&'static str; 7],
    pub confidence: &'static str,
    pub confidence_labels: [&'static str; 5],
    pub emotion: &'static str,
    /// Localised words for [`Instrument::emotions`], in the same order.
    pub emotion_labels: [&'static str; 5],
    pub comment: &'static str,
    pub ui: UiTexts,
}

/// The widget's own words around the questions.
#[derive(Debug)]
pub struct UiTexts {
    /// The launcher button; its accessible name.
    pub feedback: &'static str,
    pub title: &'static str,
    pub send: &'static str,
    pub close: &'static str,
    /// Announced after a successful Send.
    pub thank_you: &'static str,
    pub optional: &'static str,
    pub need_answer: &'static str,
    pub start: &'static str,
    pub choose_language: &'static str,
    pub idle_reset: &'static str,
    /// The kiosk's control that doubles the size of its text and targets.
    pub larger_text: &'static str,
    pub already_answered: &'static str,
    pub link_invalid: &'static str,
    pub queued: &'static str,
    /// The agent's post-call panel: its heading, the link's caption, the QR code's text
    /// alternative, the assisted-capture button, and the start of "… (HTTP 503)." when no link
    /// could be made.
    pub post_call: &'static str,
    pub share_link: &'static str,
    pub qr_alt: &'static str,
    pub assist: &'static str,
    pub link_failed: &'static str,
}

pub static CORE_CX: Instrument = Instrument {
    id: CORE_CX_ID,
    version: CORE_CX_VERSION,
    effort_max: 7,
    confidence_max: 5,
    emotions: EMOTIONS,
    comment_max_chars: 1000,
    locales: &LOCALES,
};

/// [`CORE_CX`]'s id and version as consts: code that names the survey does not keep the whole
/// instrument (every locale's texts) in the widget's wasm.
pub const CORE_CX_ID: &str = "core-cx";
pub const CORE_CX_VERSION: u32 = 1;

/// The emotion choices' ids ([`Instrument::emotions`]).
pub const EMOTIONS: [&str; 5] = ["angry", "frustrated", "neutral", "pleased", "delighted"];

/// Every locale's texts, in [`Instrument::locales`] order. A `const`, so the widget can keep only
/// the texts it shows (the kiosk's words stay out of its wasm).
pub const LOCALES: [LocaleTexts; 5] = [EN, ES, FR, DE, AR];

/// The locale codes, in [`LOCALES`] order (what [`crate::Locale::parse`] accepts).
pub const LOCALE_CODES: [&str; 5] = [EN.code, ES.code, FR.code, DE.code, AR.code];

const EN: LocaleTexts = LocaleTexts {
    code: "en",
    name: "English",
    rtl: false,
    effort: "How easy was it to get what you needed today?",
    effort_labels: [
        "very difficult",
        "difficult",
        "somewhat difficult",
        "neither easy nor difficult",
        "somewhat easy",
        "easy",
        "very easy",
    ],
    confidence: "How confident are you that your needs will be met?",
    confidence_labels: ["not at all", "slightly", "moderately", "very", "completely"],
    emotion: "How do you feel about this experience?",
    emotion_labels: ["angry", "frustrated", "neutral", "pleased", "delighted"],
    comment: "Anything we could do better?",
    ui: UiTexts {
        feedback: "Feedback",
        title: "Your feedback",
        send: "Send",
        close: "Close",
        thank_you: "Thank you for your feedback!",
        optional: "optional",
        need_answer: "Please answer at least one question.",
        start: "Start",
        choose_language: "Choose your language",
        idle_reset: "Starting over in",
        larger_text: "Larger text",
        already_answered: "This survey has already been answered. Thank you!",
        link_invalid: "This survey link has expired or is not valid.",
        queued: "waiting to send",
        post_call: "Post-call survey",
        share_link: "Send or show this link:",
        qr_alt: "QR code of the survey link",
        assist: "Assisted: answer with the customer now",
        link_failed: "The survey link could not be created",
    },
};

const ES: LocaleTexts = LocaleTexts {
    code: "es",
    name: "Español",
    rtl: false,
    effort: "¿Qué tan fácil fue conseguir lo que necesitaba hoy?",
    effort_labels: [
        "muy difícil",
        "difícil",
        "algo difícil",
        "ni fácil ni difícil",
        "algo fácil",
        "fácil",
        "muy fácil",
    ],
    confidence: "¿Qué tan seguro está de que se atenderán sus necesidades?",
    confidence_labels: ["nada", "un poco", "moderadamente", "muy", "completamente"],
    emotion: "¿Cómo se siente con esta experiencia?",
    emotion_labels: [
        "enfadado",
        "frustrado",
        "neutral",
        "satisfecho",
        "encantado",
    ],
    comment: "¿Hay algo que podamos mejorar?",
    ui: UiTexts {
        feedback: "Opinión",
        title: "Su opinión",
        send: "Enviar",
        close: "Cerrar",
        thank_you: "¡Gracias por su opinión!",
        optional: "opcional",
        need_answer: "Responda al menos una pregunta.",
        start: "Empezar",
        choose_language: "Elija su idioma",
        idle_reset: "Volvemos a empezar en",
        larger_text: "Texto más grande",
        already_answered: "Esta encuesta ya fue respondida. ¡Gracias!",
        link_invalid: "Este enlace de encuesta ha caducado o no es válido.",
        queued: "pendiente de envío",
        post_call: "Encuesta posterior a la llamada",
        share_link: "Envíe o muestre este enlace:",
        qr_alt: "Código QR del enlace de la encuesta",
        assist: "Asistida: responder ahora con el cliente",
        link_failed: "No se pudo crear el enlace de la encuesta",
    },
};

const FR: LocaleTexts = LocaleTexts {
    code: "fr",
    name: "Français",
    rtl: false,
    effort:
        "Dans quelle mesure a-t-il été facile d'obtenir ce dont vous aviez besoin aujourd'hui ?",
    effort_labels: [
        "très difficile",
        "difficile",
        "plutôt difficile",
        "ni facile ni difficile",
        "plutôt facile",
        "facile",
        "très facile",
    ],
    confidence: "Dans quelle mesure êtes-vous confiant que vos besoins seront satisfaits ?",
    confidence_labels: ["pas du tout", "un peu", "moyennement", "très", "totalement"],
    emotion: "Que ressentez-vous à propos de cette expérience ?",
    emotion_labels: ["en colère", "frustré", "neutre", "satisfait", "ravi"],
    comment: "Que pourrions-nous améliorer ?",
    ui: UiTexts {
        feedback: "Votre avis",
        title: "Votre avis",
        send: "Envoyer",
        close: "Fermer",
        thank_you: "Merci pour votre avis !",
        optional: "facultatif",
        need_answer: "Veuillez répondre à au moins une question.",
        start: "Commencer",
        choose_language: "Choisissez votre langue",
        idle_reset: "Retour à l'accueil dans",
        larger_text: "Texte plus grand",
        already_answered: "Ce questionnaire a déjà reçu une réponse. Merci !",
        link_invalid: "Ce lien de questionnaire a expiré ou n'est pas valide.",
        queued: "en attente d'envoi",
        post_call: "Enquête après l'appel",
        share_link: "Envoyez ou montrez ce lien :",
        qr_alt: "Code QR du lien de l'enquête",
        assist: "Assistée : répondre maintenant avec le client",
        link_failed: "Le lien de l'enquête n'a pas pu être créé",
    },
};

const DE: LocaleTexts = LocaleTexts {
    code: "de",
    name: "Deutsch",
    rtl: false,
    effort: "Wie einfach war es heute, das zu bekommen, was Sie brauchten?",
    effort_labels: [
        "sehr schwierig",
        "schwierig",
        "eher schwierig",
        "weder leicht noch schwierig",
        "eher leicht",
        "leicht",
        "sehr leicht",
    ],
    confidence: "Wie zuversichtlich sind Sie, dass Ihre Anliegen erfüllt werden?",
    confidence_labels: ["überhaupt nicht", "etwas", "mäßig", "sehr", "vollkommen"],
    emotion: "Wie fühlen Sie sich nach diesem Erlebnis?",
    emotion_labels: [
        "verärgert",
        "frustriert",
        "neutral",
        "zufrieden",
        "begeistert",
    ],
    comment: "Was könnten wir besser machen?",
    ui: UiTexts {
        feedback: "Feedback",
        title: "Ihr Feedback",
        send: "Senden",
        close: "Schließen",
        thank_you: "Vielen Dank für Ihr Feedback!",
        optional: "optional",
        need_answer: "Bitte beantworten Sie mindestens eine Frage.",
        start: "Starten",
        choose_language: "Wählen Sie Ihre Sprache",
        idle_reset: "Neustart in",
        larger_text: "Größere Schrift",
        already_answered: "Diese Umfrage wurde bereits beantwortet. Vielen Dank!",
        link_invalid: "Dieser Umfragelink ist abgelaufen oder ungültig.",
        queued: "wartet auf Versand",
        post_call: "Umfrage nach dem Anruf",
        share_link: "Diesen Link senden oder zeigen:",
        qr_alt: "QR-Code des Umfragelinks",
        assist: "Assistiert: jetzt mit dem Kunden antworten",
        link_failed: "Der Umfragelink konnte nicht erstellt werden",
    },
};

const AR: LocaleTexts = LocaleTexts {
    code: "ar",
    name: "العربية",
    rtl: true,
    effort: "ما مدى سهولة حصولك على ما تحتاجه اليوم؟",
    effort_labels: [
        "صعب جدًا",
        "صعب",
        "صعب إلى حد ما",
        "لا سهل ولا صعب",
        "سهل إلى حد ما",
        "سهل",
        "سهل جدًا",
    ],
    confidence: "ما مدى ثقتك في أنه ستتم تلبية احتياجاتك؟",
    confidence_labels: [
        "لست واثقًا إطلاقًا",
        "واثق قليلًا",
        "واثق إلى حد ما",
        "واثق جدًا",
        "واثق تمامًا",
    ],
    emotion: "كيف تشعر حيال هذه التجربة؟",
    emotion_labels: ["غاضب", "محبط", "محايد", "راضٍ", "مسرور جدًا"],
    comment: "هل هناك ما يمكننا تحسينه؟",
    ui: UiTexts {
        feedback: "رأيك",
        title: "رأيك يهمنا",
        send: "إرسال",
        close: "إغلاق",
        thank_you: "شكرًا لك على ملاحظاتك!",
        optional: "اختياري",
        need_answer: "يرجى الإجابة عن سؤال واحد على الأقل.",
        start: "ابدأ",
        choose_language: "اختر لغتك",
        idle_reset: "البدء من جديد خلال",
        larger_text: "تكبير النص",
        already_answered: "تمت الإجابة عن هذا الاستبيان بالفعل. شكرًا لك!",
        link_invalid: "انتهت صلاحية رابط الاستبيان أو أنه غير صالح.",
        queued: "في انتظار الإرسال",
        post_call: "استبيان ما بعد المكالمة",
        share_link: "أرسل هذا الرابط أو اعرضه:",
        qr_alt: "رمز QR لرابط الاستبيان",
        assist: "بمساعدة الموظف: أجب مع العميل الآن",
        link_failed: "تعذّر إنشاء رابط الاستبيان",
    },
};

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_locale_is_complete_and_distinct() {
        let mut codes: Vec<_> = CORE_CX.locales.iter().map(|l| l.code).collect();
        codes.sort_unstable();
        codes.dedup();
        assert_eq!(codes, ["ar", "de", "en", "es", "fr"]);
        for l in CORE_CX.locales {
            let texts = [
                l.name,
                l.effort,
                l.confidence,
                l.emotion,
                l.comment,
                l.ui.feedback,
                l.ui.title,
                l.ui.send,
                l.ui.close,
                l.ui.thank_you,
                l.ui.optional,
                l.ui.need_answer,
                l.ui.start,
                l.ui.choose_language,
                l.ui.idle_reset,
                l.ui.larger_text,
                l.ui.already_answered,
                l.ui.link_invalid,
                l.ui.queued,
                l.ui.post_call,
                l.ui.share_link,
                l.ui.qr_alt,
                l.ui.assist,
                l.ui.link_failed,
            ]
            .into_iter()
            .chain(l.effort_labels)
            .chain(l.confidence_labels)
            .chain(l.emotion_labels);
            for t in texts {
                assert!(!t.trim().is_empty(), "{}: an empty text", l.code);
            }
        }
        assert!(CORE_CX.locale("ar").is_some_and(|l| l.rtl));
        assert_eq!(CORE_CX.locales.iter().filter(|l| l.rtl).count(), 1);
    }

    #[test]
    fn english_uses_the_documented_accessible_names() {
        let en = CORE_CX.locale("en").expect("en");
        assert!(en.ui.feedback.contains("Feedback"));
        assert_eq!(en.ui.send, "Send");
        assert!(en.ui.thank_you.starts_with("Thank you"));
        assert_eq!(en.emotion_labels, CORE_CX.emotions);
    }

    #[test]
    fn negotiation_falls_back_to_english() {
        assert_eq!(CORE_CX.negotiate("fr-CA").code, "fr");
        assert_eq!(CORE_CX.negotiate("AR").code, "ar");
        assert_eq!(CORE_CX.negotiate("pt-BR").code, "en");
        assert_eq!(CORE_CX.negotiate("").code, "en");
    }
}
